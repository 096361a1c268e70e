"""Loader for StackFAQ (TakeLab): FAQ threads with answers and crowd-written paraphrases."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from ml.datasets.common import dataset_path

DATASET = "stackfaq"
SEPARATOR = "*"  # every thread's 6th <rephr> is a literal "*", not a query


@dataclass(frozen=True)
class FAQThread:
    """One FAQ: the original question, its answers and paraphrased user queries."""

    question: str
    answers: list[str]
    paraphrases: list[str]


def _texts(element: ElementTree.Element, tag: str) -> list[str]:
    return [" ".join((child.text or "").split()) for child in element.findall(tag)]


def read_stackfaq(path: str | Path) -> list[FAQThread]:
    """Threads in file order (the index is the FAQ id)."""
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"{path}: not valid XML ({error})") from None
    threads = []
    for number, pair in enumerate(root.findall("qapair")):
        questions = _texts(pair, "question")
        if len(questions) != 1 or not questions[0]:
            raise ValueError(f"{path}: thread {number} needs exactly one non-empty <question>")
        paraphrases = [t for t in _texts(pair, "rephr") if t and t != SEPARATOR]
        answers = [t for t in _texts(pair, "answer") if t]
        threads.append(FAQThread(questions[0], answers, paraphrases))
    if not threads:
        raise ValueError(f"{path}: no <qapair> elements")
    return threads


def load_stackfaq(folder: str | Path | None = None) -> list[FAQThread]:
    folder = Path(folder) if folder is not None else dataset_path(DATASET)
    return read_stackfaq(folder / "stackExchange-FAQ.xml")
