"""Loader for BANKING77 (PolyAI): customer queries labelled with one of 77 intents."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from ml.datasets.common import dataset_path

DATASET = "banking77"


@dataclass(frozen=True)
class IntentData:
    """Queries and their intent labels for the official train and test splits."""

    train_texts: list[str]
    train_labels: list[str]
    test_texts: list[str]
    test_labels: list[str]
    categories: list[str]


def read_intent_csv(path: str | Path) -> tuple[list[str], list[str]]:
    """Rows of a ``text,category`` CSV (quoted fields may hold newlines)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"text", "category"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected a header with 'text' and 'category'")
        texts, labels = [], []
        for row in reader:
            if not row["text"] or not row["category"]:
                raise ValueError(f"{path}: row {reader.line_num} has an empty text or category")
            texts.append(row["text"].strip())
            labels.append(row["category"].strip())
    return texts, labels


def load_banking77(folder: str | Path | None = None) -> IntentData:
    folder = Path(folder) if folder is not None else dataset_path(DATASET)
    if not folder.is_dir():
        raise FileNotFoundError(f"no banking77 folder at {folder}")
    train_texts, train_labels = read_intent_csv(folder / "train.csv")
    test_texts, test_labels = read_intent_csv(folder / "test.csv")
    categories = json.loads((folder / "categories.json").read_text(encoding="utf-8"))
    unknown = (set(train_labels) | set(test_labels)) - set(categories)
    if unknown:
        raise ValueError(f"labels not in categories.json: {sorted(unknown)[:5]}")
    return IntentData(train_texts, train_labels, test_texts, test_labels, categories)
