"""The content artifact: what training saves and what serving loads of it (numpy only).

A version's folder holds ``encoder/`` (the text encoder's vocabulary and weights, to place
articles written after training), ``co_reads/`` (the item-kNN model of reads) and ``serving/``
(article ids, their text vectors and read popularity, the tuned weights). Serving maps all of
it onto the rows of the current catalog snapshot once per catalog build; an article the model
never saw gets its vector from its text then, so it is recommendable at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from engine.snapshot import CatalogSnapshot
from ml.artifacts import load_folder, save_folder
from ml.base import Model
from ml.models.article_text import ArticleRanker, TextEncoder
from scenarios.content.articles import ArticleIndex


@dataclass
class Aligned:
    """The model on one catalog build's rows."""

    build: int
    ranker: ArticleRanker  # over snapshot rows
    known: np.ndarray  # bool per row: the model was trained with this article


@dataclass
class ContentState:
    encoder: TextEncoder
    co_reads: sp.csr_matrix  # model article x model article
    ids: np.ndarray
    vectors: np.ndarray
    popularity: np.ndarray
    weights: dict[str, float]
    _aligned: Aligned | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ranker(self, snapshot: CatalogSnapshot, index: ArticleIndex, half_life: float):
        """The ranker over the snapshot's rows under ``half_life`` days."""
        aligned = self._aligned
        if aligned is None or aligned.build != snapshot.build:
            with self._lock:
                if self._aligned is None or self._aligned.build != snapshot.build:
                    self._aligned = self._align(snapshot, index)
                aligned = self._aligned
        return replace(aligned.ranker, half_life_days=half_life), aligned.known

    def _align(self, snapshot: CatalogSnapshot, index: ArticleIndex) -> Aligned:
        rows = snapshot.rows(self.ids)
        present = rows >= 0
        n = len(snapshot.ids)
        known = np.zeros(n, dtype=bool)
        known[rows[present]] = True
        vectors = np.zeros((n, self.vectors.shape[1]), np.float32)
        vectors[rows[present]] = self.vectors[present]
        new = np.flatnonzero(~known)
        if len(new):
            vectors[new] = self.encoder.encode([index.texts[r] for r in new])
        popularity = np.zeros(n, np.float32)
        popularity[rows[present]] = self.popularity[present]
        move = sp.csr_matrix(
            (np.ones(int(present.sum()), np.float32), (np.flatnonzero(present), rows[present])),
            shape=(len(self.ids), n),
        )
        co_reads = sp.csr_matrix(move.T @ self.co_reads @ move)
        ranker = ArticleRanker(
            vectors=vectors,
            co_reads=co_reads,
            popularity=popularity,
            published=index.published,
            text_weight=self.weights["text_weight"],
            freshness_weight=self.weights["freshness_weight"],
        )
        return Aligned(snapshot.build, ranker, known)


def save_state(folder: Path, encoder, co_reads_model, ids, vectors, popularity, weights) -> None:
    encoder.save(folder / "encoder")
    co_reads_model.save(folder / "co_reads")
    save_folder(
        folder / "serving",
        {"weights": weights},
        {"ids": np.asarray(ids, str), "vectors": vectors, "popularity": popularity},
    )


def load_state(folder: Path) -> ContentState:
    import ml.models.itemknn  # noqa: F401  (registers the co-read model)

    config, arrays = load_folder(folder / "serving")
    co_reads = Model.load(folder / "co_reads").similarity_
    weights: dict[str, Any] = config["weights"]
    return ContentState(
        encoder=TextEncoder.load(folder / "encoder"),
        co_reads=co_reads,
        ids=arrays["ids"],
        vectors=arrays["vectors"],
        popularity=arrays["popularity"],
        weights=weights,
    )
