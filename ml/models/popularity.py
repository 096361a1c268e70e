"""Most-popular baseline with exponential time decay, plus per-segment popularity for cold start.

Decay lives in the interaction weights, so the model keeps the plain ``fit(matrix)`` interface:
build the matrix from ``decayed_weights(timestamps, now, half_life_days)`` and recent events count
more. When ``user_features`` are given at fit time (one column per segment, e.g. one-hot age
bands), each segment gets its own popularity list and known users see their segments' blend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.base import Recommender, register
from ml.models.common import validation_ndcg

SECONDS_PER_DAY = 86_400.0


def decayed_weights(
    timestamps: np.ndarray, now: float, half_life_days: float, values: np.ndarray | None = None
) -> np.ndarray:
    """Event weights ``values * 0.5 ** (age_days / half_life_days)``; future events count fully."""
    if half_life_days <= 0:
        raise ValueError("half_life_days must be positive")
    timestamps = np.asarray(timestamps, dtype=np.float64)
    age_days = np.maximum(float(now) - timestamps, 0.0) / SECONDS_PER_DAY
    weights = np.power(0.5, age_days / half_life_days)
    if values is not None:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != timestamps.shape:
            raise ValueError("values and timestamps must have the same length")
        weights = weights * values
    return weights.astype(np.float32)


@register
class Popularity(Recommender):
    """Items ranked by their summed (optionally decayed) weight, or by distinct users."""

    name = "popularity"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        # by_users: count each user once, so one heavy user cannot make an item "popular".
        # segment_weight: share of the segment list in a known user's blend (0 = global only).
        return {"by_users": False, "segment_weight": 0.5}

    def _fit(self, matrix, user_features, item_features, validation) -> None:
        if not 0.0 <= self.params["segment_weight"] <= 1.0:
            raise ValueError("segment_weight must be in [0, 1]")
        counted = matrix.copy()
        if self.params["by_users"]:
            counted.data[:] = 1.0
        totals = np.asarray(counted.sum(axis=0)).ravel()
        self.scores_ = (totals / max(float(totals.max()), 1e-12)).astype(np.float32)
        self.user_segments = np.zeros((self.n_users, 0), np.float32)
        self.segment_scores_ = np.zeros((0, self.n_items), np.float32)
        if user_features is not None:
            if (user_features < 0).any():
                raise ValueError("segment user_features must be non-negative memberships")
            per_segment = np.asarray((counted.T @ user_features).T, dtype=np.float32)
            per_segment /= np.maximum(per_segment.max(axis=1, keepdims=True), 1e-12)
            self.user_segments = user_features
            self.segment_scores_ = per_segment
        # Nothing is learnt iteratively; record the (decayed) event mass the counts rest on.
        entry = {"total_weight": float(totals.sum())}
        if validation is not None:
            entry["val_ndcg@10"] = validation_ndcg(
                lambda users: self._score(users, matrix[users]), matrix, validation
            )
        self.history.log(**entry)

    def segment_scores(self, memberships: np.ndarray) -> np.ndarray:
        """Scores for a user the model never saw, from segment memberships alone (cold start)."""
        self._require_fitted()
        memberships = np.asarray(memberships, dtype=np.float32)
        if memberships.ndim != 2 or memberships.shape[1] != self.segment_scores_.shape[0]:
            raise ValueError(
                f"memberships must be [n_users, {self.segment_scores_.shape[0]}] segment weights"
            )
        return self._blend(memberships)

    def _blend(self, memberships: np.ndarray) -> np.ndarray:
        weight = self.params["segment_weight"] if self.segment_scores_.shape[0] else 0.0
        total = memberships.sum(axis=1, keepdims=True)
        segment = (memberships @ self.segment_scores_) / np.maximum(total, 1e-12)
        segment = np.where(total > 0, segment, self.scores_[None, :])
        return (1.0 - weight) * self.scores_[None, :] + weight * segment

    def _score(self, users, user_items) -> np.ndarray:
        memberships = np.zeros((len(users), self.user_segments.shape[1]), np.float32)
        known = users >= 0
        memberships[known] = self.user_segments[users[known]]
        return self._blend(memberships)

    def _get_state(self):
        arrays = {
            "scores": self.scores_,
            "user_segments": self.user_segments,
            "segment_scores": self.segment_scores_,
        }
        return {}, arrays

    def _set_state(self, meta, arrays) -> None:
        self.scores_ = arrays["scores"]
        self.user_segments = arrays["user_segments"]
        self.segment_scores_ = arrays["segment_scores"]
        self.n_items = len(self.scores_)
        self.n_users = len(self.user_segments)
