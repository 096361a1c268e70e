"""Beyond-accuracy metrics of recommendation lists: catalog coverage, diversity, novelty.

``recommended`` is ``[n_users, k]`` item indices padded with -1, as the ranking metrics take.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _lists(recommended: np.ndarray) -> np.ndarray:
    lists = np.asarray(recommended, dtype=np.int64)
    if lists.ndim != 2:
        raise ValueError(f"recommended must be a 2-D array [n_users, k], got shape {lists.shape}")
    if (lists < -1).any():
        raise ValueError("recommended ids must be item indices >= 0, or -1 for padding")
    return lists


def catalog_coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the catalog that appears in at least one list."""
    if n_items < 1:
        raise ValueError("n_items must be at least 1")
    lists = _lists(recommended)
    if lists.max(initial=-1) >= n_items:
        raise ValueError(f"recommended ids must be below n_items={n_items}")
    return len(np.unique(lists[lists >= 0])) / n_items


def intra_list_diversity(
    recommended: np.ndarray,
    item_vectors: np.ndarray | None = None,
    item_categories: np.ndarray | None = None,
    batch_size: int = 2048,
) -> float:
    """Mean over lists of 1 - mean pairwise similarity of the listed items.

    Similarity is the cosine of ``item_vectors`` (e.g. embeddings or multi-hot genres), or, with
    ``item_categories`` (one label per item), 1 for a shared category and 0 otherwise. With
    categories or non-negative vectors the result is in [0, 1]; vectors with opposed directions
    can push it up to 2. Lists with fewer than two items say nothing about diversity and are
    skipped; with none left the result is NaN.
    """
    if (item_vectors is None) == (item_categories is None):
        raise ValueError("give exactly one of item_vectors or item_categories")
    lists = _lists(recommended)
    if item_categories is not None:
        _, codes = np.unique(np.asarray(item_categories), return_inverse=True)
        n_known = len(codes)
    else:
        vectors = np.asarray(item_vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError("item_vectors must be a 2-D array [n_items, dim]")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = np.vstack([vectors / np.maximum(norms, 1e-12), np.zeros((1, vectors.shape[1]))])
        n_known = len(vectors)
    if lists.max(initial=-1) >= n_known:
        raise ValueError("recommended ids must index item_vectors / item_categories")
    diversities = []
    for start in range(0, len(lists), batch_size):
        batch = lists[start : start + batch_size]
        valid = batch >= 0
        if item_categories is not None:
            labels = codes[np.where(valid, batch, 0)]
            both = valid[:, :, None] & valid[:, None, :]
            similarity = ((labels[:, :, None] == labels[:, None, :]) & both).astype(np.float32)
        else:
            stacked = unit[np.where(valid, batch, n_known)]  # padding -> zero vector
            similarity = np.einsum("bkd,bjd->bkj", stacked, stacked)
        sizes = valid.sum(axis=1)
        pairs = sizes * (sizes - 1)
        off_diagonal = similarity.sum(axis=(1, 2)) - np.einsum("bkk->b", similarity)
        scored = pairs > 0
        diversities.append(1.0 - off_diagonal[scored] / pairs[scored])
    values = np.concatenate(diversities) if diversities else np.zeros(0)
    return float(values.mean()) if len(values) else float("nan")


def item_popularity(train: sp.spmatrix) -> np.ndarray:
    """Interactions per item (non-zero entries per column) of a users x items matrix."""
    return np.diff(sp.csc_matrix(train).indptr).astype(np.float64)


def novelty(recommended: np.ndarray, popularity: np.ndarray) -> float:
    """Mean self-information -log2(share) of the recommended items, in bits.

    ``share`` is the item's part of all training interactions (``popularity / popularity.sum()``,
    the definition microsoft/recommenders uses). Items never seen in training count as seen once,
    so a cold item is very novel rather than infinitely so. Padding is ignored.
    """
    counts = np.asarray(popularity, dtype=np.float64)
    if counts.ndim != 1 or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError(
            "popularity must be a 1-D array of non-negative counts with a positive sum"
        )
    lists = _lists(recommended)
    if lists.max(initial=-1) >= len(counts):
        raise ValueError("recommended ids must index popularity")
    shown = lists[lists >= 0]
    if shown.size == 0:
        raise ValueError("no recommended item to measure")
    share = np.maximum(counts, 1.0) / counts.sum()
    return float(np.mean(-np.log2(share[shown])))
