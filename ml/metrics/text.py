"""Metrics for FAQ / intent matching over ranked ids: accuracy@1, recall@k, and precision@k (plain,
and normalised by how many relevant ids fit in the top k)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def _relevant_sets(relevant, n_queries: int) -> list[set]:
    if len(relevant) != n_queries:
        raise ValueError(f"need one relevant entry per query: {len(relevant)} vs {n_queries}")
    sets = []
    for entry in relevant:
        if isinstance(entry, (str, bytes)) or not isinstance(entry, Iterable):
            sets.append({entry})  # a single correct id
        else:
            sets.append(set(entry))
    return sets


def _check_ranked(ranked, k: int | None) -> np.ndarray:
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or ranked.shape[0] == 0:
        raise ValueError("ranked ids must be a non-empty 2-D array [queries, positions]")
    if k is not None and not 1 <= k <= ranked.shape[1]:
        raise ValueError(f"k must be in [1, {ranked.shape[1]}]")
    return ranked


def accuracy_at_1(ranked, relevant: Sequence) -> float:
    """Fraction of queries whose first id is relevant."""
    ranked = _check_ranked(ranked, 1)
    sets = _relevant_sets(relevant, ranked.shape[0])
    return float(np.mean([row[0] in rel for row, rel in zip(ranked.tolist(), sets, strict=True)]))


def _hits_and_relevant(ranked, relevant: Sequence, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query: relevant ids among the top k, and how many ids are relevant (at least one)."""
    ranked = _check_ranked(ranked, k)
    sets = _relevant_sets(relevant, ranked.shape[0])
    if not all(sets):
        raise ValueError("every query needs at least one relevant id")
    hits = [
        len(rel.intersection(row)) for row, rel in zip(ranked[:, :k].tolist(), sets, strict=True)
    ]
    return np.asarray(hits, dtype=np.float64), np.asarray([len(rel) for rel in sets], np.float64)


def recall_at_k(ranked, relevant: Sequence, k: int) -> float:
    """Mean over queries of |relevant in top k| / |relevant| (with one correct id: hit rate)."""
    hits, counts = _hits_and_relevant(ranked, relevant, k)
    return float(np.mean(hits / counts))


def precision_at_k(ranked, relevant: Sequence, k: int) -> float:
    """Mean over queries of |relevant in top k| / k (padding ids count as misses)."""
    ranked = _check_ranked(ranked, k)
    sets = _relevant_sets(relevant, ranked.shape[0])
    hits = [
        sum(item in rel for item in row)
        for row, rel in zip(ranked[:, :k].tolist(), sets, strict=True)
    ]
    return float(np.mean(hits) / k)


def normalized_precision_at_k(ranked, relevant: Sequence, k: int) -> float:
    """Mean over queries of |relevant in top k| / min(k, |relevant|).

    Plain precision@k cannot reach 1 for a query with fewer than k relevant ids; dividing by
    the number that can fit makes 1 the score of every perfect ranking.
    """
    hits, counts = _hits_and_relevant(ranked, relevant, k)
    return float(np.mean(hits / np.minimum(counts, k)))
