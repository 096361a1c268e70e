"""Helpers every top-N model shares: validation NDCG per epoch, popularity fallback, TF seeding."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ml.base import top_n
from ml.metrics.ranking import ndcg_at_k

VALIDATION_K = 10


def validation_ndcg(
    score_users: Callable[[np.ndarray], np.ndarray],
    train: sp.csr_matrix,
    validation: sp.csr_matrix,
    k: int = VALIDATION_K,
    batch_size: int = 512,
) -> float:
    """NDCG@k on ``validation`` of users who have held-out items, seen (train) items removed.

    ``score_users(users)`` returns dense scores [len(users), n_items]; models call this during
    training, before ``fit`` has marked them fitted, so it cannot go through ``recommend``.
    """
    users = np.flatnonzero(np.diff(validation.indptr) > 0)
    recommended = []
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = np.asarray(score_users(batch), dtype=np.float32).copy()
        seen = train[batch]
        rows, cols = seen.nonzero()
        scores[rows, cols] = -np.inf
        recommended.append(top_n(scores, k)[0])
    return ndcg_at_k(np.vstack(recommended), validation[users], k)


def item_popularity(matrix: sp.csr_matrix) -> np.ndarray:
    """Number of users per item, scaled to [0, 1]: the answer for users with no history."""
    counts = np.diff(sp.csc_matrix(matrix).indptr).astype(np.float32)
    return counts / max(float(counts.max()), 1.0)


def fill_empty_rows(scores: np.ndarray, user_items: sp.csr_matrix, fallback: np.ndarray) -> None:
    """Give rows without any interaction the ``fallback`` scores (in place)."""
    empty = np.diff(user_items.indptr) == 0
    if empty.any():
        scores[empty] = fallback


def fold_in_least_squares(
    item_factors: np.ndarray, user_items: sp.csr_matrix, l2: float = 1.0
) -> np.ndarray:
    """User vectors that best reproduce each row of ``user_items`` from fixed item factors.

    Ridge regression of the (binary) row on the item factors: how ALS folds in a new user, and a
    sound way to place users the model never saw without retraining.
    """
    dim = item_factors.shape[1]
    gram = item_factors.T @ item_factors + l2 * np.eye(dim, dtype=np.float32)
    rhs = np.asarray(sp.csr_matrix(user_items, dtype=np.float32) @ item_factors)
    return np.linalg.solve(gram, rhs.T).T.astype(np.float32)


def require_positive(params: dict, *names: str) -> None:
    """Refuse zero or negative values of the named hyperparameters before any training."""
    for name in names:
        if not params[name] > 0:
            raise ValueError(f"{name} must be positive, got {params[name]!r}")


def seed_tensorflow(seed: int) -> None:
    """Make a Keras run repeatable: Python, numpy and TensorFlow seeds, deterministic ops."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
