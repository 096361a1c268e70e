"""The products artifact: what training saves beside the model, and what serving loads of it.

A version's folder holds ``model/`` (the model family's own arrays), ``serving/`` (ids, segment
and overall popularity for cold start) and, for models with item vectors, ``similar_index/``.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.snapshot import CatalogSnapshot
from ml.artifacts import load_folder, save_folder
from ml.base import MODEL_REGISTRY, Recommender
from ml.data import IdMap
from ml.index import ExactIndex, FaissIndex, load_index
from scenarios.products.dataset import ProductsDataset, event_weights

SIMILAR_INDEX = "similar_index"  # artifact folder of the item-vector index


def model_class(name: str) -> type[Recommender]:
    """The model family ``name``; its module is imported on demand (never TensorFlow at import)."""
    if name not in MODEL_REGISTRY:
        try:
            importlib.import_module(f"ml.models.{name}")
        except ModuleNotFoundError:
            raise ValueError(f"model {name!r} is not available in this installation") from None
    cls = MODEL_REGISTRY.get(name)
    if cls is None or not issubclass(cls, Recommender):
        raise ValueError(f"model {name!r} is not a top-N recommender")
    return cls


@dataclass
class ServingState:
    """One version's artifact as loaded in this process."""

    settings: dict[str, Any]
    model: Recommender
    users: IdMap
    items: IdMap
    segment_index: dict[str, int]
    segment_scores: np.ndarray  # segments x items
    global_scores: np.ndarray
    event_weights: dict[str, float]  # read once per load: real-time fold-in needs them per request
    similar_index: ExactIndex | FaissIndex | None = None  # item vectors, for similar items
    snapshot_build: int | None = None
    catalog_rows: np.ndarray | None = None  # model item index -> catalog row (-1 if gone)
    model_index: np.ndarray | None = None  # catalog row -> model item index (-1 if new)

    @functools.cached_property
    def popular_order(self) -> np.ndarray:
        """Model item indices, most interacted first (ties by index): fills short lists."""
        return np.argsort(-self.global_scores, kind="stable")

    def align(self, snapshot: CatalogSnapshot) -> None:
        """Map the model's items to the rows of this catalog build (once per build)."""
        if self.snapshot_build == snapshot.build:
            return
        self.catalog_rows = snapshot.rows(self.items.ids)
        index = np.full(len(snapshot.ids), -1, dtype=np.int64)
        known = self.catalog_rows >= 0
        index[self.catalog_rows[known]] = np.flatnonzero(known)
        self.model_index = index
        self.snapshot_build = snapshot.build

    @functools.cached_property
    def has_similarity(self) -> bool:
        """Whether the model relates items at all (popularity does not: similar items then
        come from content alone)."""
        if self.similar_index is not None:
            return True
        try:
            self.model.similar_items([0], n=1)
        except NotImplementedError:
            return False
        return True

    def similar_to(self, index: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The model's nearest items to item ``index``: through the saved vector index when the
        model has item vectors, else the model's own similarity (item-kNN, EASE rows)."""
        if self.similar_index is None:
            return self.model.similar_items([index], n=n)
        query = self.model.item_embeddings()[[index]]
        return self.similar_index.search(query, min(n, self.similar_index.n_items), [[index]])


def save_artifacts(
    folder: Path, model: Recommender, data: ProductsDataset, settings: dict[str, Any]
) -> float | None:
    """Write the version's folder; returns the similar-items index's recall@10 (None: exact
    search, or a model without item vectors)."""
    model.save(folder / "model")
    recall = _save_similar_index(model, folder / SIMILAR_INDEX, settings)
    positive = data.matrix.copy()
    positive.data[:] = 1.0
    counts = np.asarray(positive.sum(axis=0), dtype=np.float32).ravel()
    per_segment = np.asarray((positive.T @ data.memberships).T, dtype=np.float32)
    per_segment /= np.maximum(per_segment.max(axis=1, keepdims=True), 1e-12)
    save_folder(
        folder / "serving",
        {"settings": settings},
        {
            "user_ids": data.users.ids,
            "item_ids": data.items.ids,
            "segment_names": data.segment_names,
            "segment_scores": per_segment.reshape(len(data.segment_names), len(data.items)),
            "global_scores": counts / max(float(counts.max()), 1e-12),
        },
    )
    return recall


def _save_similar_index(model: Recommender, folder: Path, settings) -> float | None:
    """Index the model's item vectors (if it has them) for similar items: exact up to
    ``exact_search_max_items``, else faiss, tuned to 95% recall@10 of exact search on a sample
    of items."""
    from ml.index import build_index, calibrate_recall

    vectors = model.item_embeddings()
    if vectors is None:
        return None
    index = build_index(vectors, "cosine", exact_threshold=settings["exact_search_max_items"])
    recall = None
    if isinstance(index, FaissIndex):
        sample = np.random.default_rng(0).choice(len(vectors), min(len(vectors), 500), False)
        recall = float(calibrate_recall(index, vectors, vectors[sample], k=10))
    index.save(folder)
    return recall


def load_state(folder: Path, algorithm: str, settings: dict[str, Any]) -> ServingState:
    """Read a version's folder; ``settings`` are the version's effective settings."""
    _, arrays = load_folder(folder / "serving")
    model = model_class(algorithm).load(folder / "model")
    names = arrays["segment_names"].tolist()
    indexed = (folder / SIMILAR_INDEX).is_dir()
    return ServingState(
        settings=settings,
        model=model,
        users=IdMap(arrays["user_ids"]),
        items=IdMap(arrays["item_ids"]),
        segment_index={name: i for i, name in enumerate(names)},
        segment_scores=arrays["segment_scores"],
        global_scores=arrays["global_scores"],
        event_weights=event_weights(settings),
        similar_index=load_index(folder / SIMILAR_INDEX) if indexed else None,
    )
