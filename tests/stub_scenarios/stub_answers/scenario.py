"""A word-overlap index: an entry scores the share of the question's words it contains, plus a
small bonus for answers users marked helpful; a weak best score hands the question off."""

import re
from pathlib import Path

import numpy as np

from engine.pipeline import Slate
from engine.scenario import Kind, QueryAnswer, Scenario, TrainingOutcome
from ml.artifacts import load_folder, save_folder

from .models import AnswerFeedback, FaqEntry

STOP_WORDS = {"a", "an", "the", "is", "are", "to", "do", "does", "i", "my", "of", "can", "how"}
HELPFUL_BONUS = 0.05


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower())) - STOP_WORDS


def word_matrix(texts: list[str], vocabulary: list[str]) -> np.ndarray:
    """texts x vocabulary, 1 where the text has the word."""
    column = {word: col for col, word in enumerate(vocabulary)}
    matrix = np.zeros((len(texts), len(vocabulary)), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in words(text) & column.keys():
            matrix[row, column[word]] = 1.0
    return matrix


def overlap(matrix: np.ndarray, vocabulary: list[str], query: str) -> np.ndarray:
    """Each row's share of the query's words."""
    query_words = words(query)
    return matrix @ word_matrix([query], vocabulary)[0] / max(1, len(query_words))


def build_index(entries: list[FaqEntry]) -> dict:
    texts = [f"{entry.question} {entry.answer}" for entry in entries]
    vocabulary = sorted(set().union(*map(words, texts))) if texts else []
    return {
        "entry_ids": [entry.entry_id for entry in entries],
        "languages": [entry.language for entry in entries],
        "vocabulary": vocabulary,
        "matrix": word_matrix(texts, vocabulary),
        "bonus": np.zeros(len(entries)),
    }


class StubAnswersScenario(Scenario):
    slug = "stub_answers"
    title = "Stub answers"
    kind = Kind.QUERY_ANSWERS
    primary_metric = "recall@1"
    click_events = (AnswerFeedback.Event.CLICK.value,)
    outcome_events = (AnswerFeedback.Event.HELPFUL.value,)
    settings_schema = {
        "type": "object",
        "properties": {"handoff_below": {"type": "number", "minimum": 0, "maximum": 1}},
    }
    default_settings = {"handoff_below": 0.5}
    request_time_settings = frozenset({"handoff_below"})

    def build_dataset(self, settings):
        entries = list(FaqEntry.objects.order_by("entry_id"))
        if len(entries) < 2:
            raise ValueError(f"{len(entries)} FAQ entries: too few to train on")
        return entries

    def train(self, version, artifact_dir, progress):
        progress(0.1, "building the index")
        entries = self.build_dataset(self.effective_settings(version.settings))
        # Held-out check: does each question find its own answer among all answers?
        answers_only = sorted(set().union(*(words(entry.answer) for entry in entries)))
        matrix = word_matrix([entry.answer for entry in entries], answers_only)
        found = [
            int(np.argmax(overlap(matrix, answers_only, entry.question))) == row
            for row, entry in enumerate(entries)
        ]
        index = build_index(entries)
        helpful = AnswerFeedback.objects.filter(event_type=AnswerFeedback.Event.HELPFUL)
        counts = dict.fromkeys(index["entry_ids"], 0)
        for entry_id in helpful.values_list("entry__entry_id", flat=True):
            counts[entry_id] += 1
        bonus = HELPFUL_BONUS * np.array([n / (n + 1) for n in counts.values()])
        save_folder(
            Path(artifact_dir) / "model",
            {key: index[key] for key in ("entry_ids", "languages", "vocabulary")},
            {"matrix": index["matrix"], "bonus": bonus},
        )
        return TrainingOutcome(
            metrics={"recall@1": float(np.mean(found))},
            history={},
            data_snapshot={"entries": len(entries), "words": len(index["vocabulary"])},
        )

    def load_state(self, version):
        config, arrays = load_folder(Path(version.artifact_path) / "model")
        return {**config, **arrays}

    def candidates(self, request, context):
        index = context.state
        if index is None:  # untrained: the same overlap over the live entries, no bonus
            context.fallback = True
            index = build_index(list(FaqEntry.objects.order_by("entry_id")))
        scores = overlap(index["matrix"], index["vocabulary"], request.query) + index["bonus"]
        language = request.context.get("language")
        keep = np.array([not language or lang == language for lang in index["languages"]], bool)
        rows = np.flatnonzero(keep & (scores > 0))
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        context.notes["entry_ids"] = index["entry_ids"]
        top = float(scores[rows[0]]) if len(rows) else 0.0
        context.extra["handoff"] = top < context.settings["handoff_below"]
        return Slate(rows, scores[rows], ["shares words with the question"] * len(rows))

    def explain(self, request, context, slate):
        ids = [context.notes["entry_ids"][row] for row in slate.rows.tolist()]
        entries = FaqEntry.objects.in_bulk(ids, field_name="entry_id")
        threshold = context.settings["handoff_below"]
        return [
            QueryAnswer(
                entry_id,
                entries[entry_id].question,
                entries[entry_id].answer,
                score,
                score < threshold,
            )
            for entry_id, score in zip(ids, slate.scores.tolist(), strict=True)
            if entry_id in entries
        ]

    def feedback_events(self):
        return AnswerFeedback.objects.all()
