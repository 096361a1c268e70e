"""Top-N accuracy metrics with binary relevance: Precision, Recall, NDCG, MAP, HitRate, MRR at k.

Inputs everywhere:

- ``recommended``: item indices ``[n_users, >= k]``, best first, padded with -1 (as
  :meth:`ml.base.Recommender.recommend` returns them). Only the first ``k`` columns count; a row
  shorter than ``k`` is treated as padded.
- ``relevant``: the held-out items of the same users, row for row: a users x items sparse matrix
  (non-zero = relevant) or a sequence of item-index collections.

Users without relevant items are excluded from every mean (they cannot be hit); users with
relevant items but an empty list count as zeros. Definitions follow microsoft/recommenders so the
numbers compare with their MovieLens benchmark table:

- precision@k = hits in top k / k (k, not the list length, so short lists are penalised),
- recall@k = hits in top k / number of relevant items,
- NDCG@k = sum over hits of 1/log2(rank + 1), divided by the same sum for an ideal list of
  min(k, number of relevant) hits,
- MAP@k = sum over hits of (precision at the hit's rank), divided by the number of relevant items
  (not by min(k, relevant) as some libraries do), then averaged over users,
- HitRate@k = 1 if any hit, MRR@k = 1 / rank of the first hit (0 if none).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

METRIC_NAMES = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")

Relevant = sp.spmatrix | Sequence[Iterable[int]]


def _relevant_lists(relevant: Relevant, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, indices)`` of each user's distinct relevant items."""
    if sp.issparse(relevant):
        matrix = sp.csr_matrix(relevant)
        matrix.eliminate_zeros()
        matrix.sum_duplicates()
        if matrix.shape[0] != n_users:
            raise ValueError(
                f"relevant has {matrix.shape[0]} rows but recommended has {n_users} users"
            )
        return matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64)
    if len(relevant) != n_users:
        raise ValueError(f"relevant has {len(relevant)} users but recommended has {n_users}")
    rows = [np.unique(np.asarray(list(items), dtype=np.int64)) for items in relevant]
    if any((row < 0).any() for row in rows):
        raise ValueError("relevant item indices must be non-negative")
    indptr = np.r_[0, np.cumsum([len(row) for row in rows])].astype(np.int64)
    indices = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    return indptr, indices.astype(np.int64)


def _top_k(recommended: np.ndarray | Sequence[Sequence[int]], k: int) -> np.ndarray:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    top = np.asarray(recommended, dtype=np.int64)
    if top.ndim != 2:
        raise ValueError(f"recommended must be a 2-D array [n_users, k], got shape {top.shape}")
    top = top[:, :k]
    if top.shape[1] < k:
        top = np.pad(top, ((0, 0), (0, k - top.shape[1])), constant_values=-1)
    if (top < -1).any():
        raise ValueError("recommended ids must be item indices >= 0, or -1 for padding")
    ordered = np.sort(top, axis=1)
    if ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).any():
        raise ValueError("a recommended list repeats an item; each row must hold distinct ids")
    return top


def hits_at_k(recommended: np.ndarray, relevant: Relevant, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean hits ``[n_users, k]`` and relevant counts, for users with relevant items only."""
    top = _top_k(recommended, k)
    n_users = top.shape[0]
    indptr, indices = _relevant_lists(relevant, n_users)
    n_relevant = np.diff(indptr)
    width = int(max(top.max(initial=-1), indices.max(initial=-1))) + 1
    relevant_keys = np.repeat(np.arange(n_users, dtype=np.int64), n_relevant) * width + indices
    recommended_keys = np.arange(n_users, dtype=np.int64)[:, None] * width + top
    hits = np.isin(recommended_keys, relevant_keys) & (top >= 0)
    evaluated = n_relevant > 0
    return hits[evaluated], n_relevant[evaluated]


def per_user_ranking_metrics(
    recommended: np.ndarray, relevant: Relevant, k: int = 10
) -> dict[str, np.ndarray]:
    """Each metric of :data:`METRIC_NAMES` per evaluated user (users with relevant items)."""
    hits, n_relevant = hits_at_k(recommended, relevant, k)
    hit_float = hits.astype(np.float64)
    ranks = np.arange(1, k + 1, dtype=np.float64)
    discounts = 1.0 / np.log2(ranks + 1.0)
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    n_hits = hit_float.sum(axis=1)
    precision_at_rank = np.cumsum(hit_float, axis=1) / ranks
    first_hit = np.argmax(hits, axis=1)
    return {
        "precision": n_hits / k,
        "recall": n_hits / n_relevant,
        "ndcg": (hit_float * discounts).sum(axis=1) / ideal,
        "map": (precision_at_rank * hit_float).sum(axis=1) / n_relevant,
        "hit_rate": (n_hits > 0).astype(np.float64),
        "mrr": np.where(n_hits > 0, 1.0 / (first_hit + 1.0), 0.0),
    }


def ranking_metrics(recommended: np.ndarray, relevant: Relevant, k: int = 10) -> dict[str, float]:
    """Mean of every metric over users with relevant items, keyed ``"ndcg@10"`` and so on."""
    per_user = per_user_ranking_metrics(recommended, relevant, k)
    if len(per_user["precision"]) == 0:
        raise ValueError("no user has a relevant item; nothing to evaluate")
    return {f"{name}@{k}": float(values.mean()) for name, values in per_user.items()}


def _one(name: str, recommended: np.ndarray, relevant: Relevant, k: int) -> float:
    return ranking_metrics(recommended, relevant, k)[f"{name}@{k}"]


def precision_at_k(recommended: np.ndarray, relevant: Relevant, k: int = 10) -> float:
    """Mean share of the top k that is relevant."""
    return _one("precision", recommended, relevant, k)


def recall_at_k(recommended: np.ndarray, relevant: Relevant, k: int = 10) -> float:
    """Mean share of each user's relevant items found in the top k."""
    return _one("recall", recommended, relevant, k)


def ndcg_at_k(recommended: np.ndarray, relevant: Relevant, k: int = 10) -> float:
    """Mean normalised discounted cumulative gain (binary relevance)."""
    return _one("ndcg", recommended, relevant, k)


def map_at_k(recommended: np.ndarray, relevant: Relevant, k: int = 10) -> float:
    """Mean average precision, normalised by each user's relevant count (recommenders' MAP)."""
    return _one("map", recommended, relevant, k)


def hit_rate_at_k(recommended: np.ndarray, relevant: Relevant, k: int = 10) -> float:
    """Share of users with at least one relevant item in the top k."""
    return _one("hit_rate", recommended, relevant, k)


def mrr_at_k(recommended: np.ndarray, relevant: Relevant, k: int = 10) -> float:
    """Mean reciprocal rank of the first relevant item in the top k (0 when none)."""
    return _one("mrr", recommended, relevant, k)
