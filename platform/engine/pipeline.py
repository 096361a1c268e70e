"""The serving pipeline every scenario shares: candidates -> filter -> rank -> re-rank -> explain.

A scenario produces candidates (rows of a catalog snapshot with scores); these functions are the
common filter and re-rank stages, on numpy arrays so a request costs microseconds, not queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ml.rerank import mmr_order


@dataclass
class Slate:
    """Candidates in rank order: catalog rows, their scores and a reason for each."""

    rows: np.ndarray
    scores: np.ndarray
    reasons: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.rows = np.asarray(self.rows, dtype=np.int64)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        if not self.reasons:
            self.reasons = [""] * len(self.rows)
        if not (len(self.rows) == len(self.scores) == len(self.reasons)):
            raise ValueError("rows, scores and reasons must have the same length")

    def __len__(self) -> int:
        return len(self.rows)

    def keep(self, mask: np.ndarray) -> Slate:
        index = np.flatnonzero(mask)
        return Slate(self.rows[index], self.scores[index], [self.reasons[i] for i in index])

    def head(self, n: int) -> Slate:
        return Slate(self.rows[:n], self.scores[:n], self.reasons[:n])


def filter_slate(slate: Slate, allowed: np.ndarray) -> Slate:
    """Drop candidates whose catalog row is not allowed (hidden, excluded, wrong category...)."""
    if not len(slate):
        return slate
    return slate.keep(np.asarray(allowed, dtype=bool)[slate.rows])


def diversify(
    slate: Slate, similarity: Callable[[np.ndarray], np.ndarray], strength: float, n: int
) -> Slate:
    """Maximal marginal relevance (:func:`ml.rerank.mmr_order`); ``strength`` 0 keeps the
    ranking. ``similarity(rows)`` is the pairwise similarity of those catalog rows in [0, 1]
    (products: shared category path depth)."""
    if strength <= 0 or len(slate) <= 1:
        return slate.head(n)
    chosen = mmr_order(slate.scores, similarity(slate.rows), n, strength)
    return Slate(slate.rows[chosen], slate.scores[chosen], [slate.reasons[i] for i in chosen])


def explore(
    slate: Slate,
    pool_rows: np.ndarray,
    rate: float,
    rng: np.random.Generator,
    reason: str,
    protect_top: int = 2,
) -> Slate:
    """Epsilon exploration: each slot after the first ``protect_top`` is, with probability
    ``rate``, given to an item from ``pool_rows`` not already shown (new or rarely shown items
    get impressions, so they can earn interactions)."""
    if rate <= 0 or len(slate) <= protect_top or not len(pool_rows):
        return slate
    shown = set(slate.rows.tolist())
    pool = [row for row in rng.permutation(pool_rows).tolist() if row not in shown]
    rows, scores, reasons = slate.rows.copy(), slate.scores.copy(), list(slate.reasons)
    for position in range(protect_top, len(slate)):
        if not pool:
            break
        if rng.random() < rate:
            rows[position] = pool.pop()
            reasons[position] = reason
    return Slate(rows, scores, reasons)
