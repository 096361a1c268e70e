"""Helpers every top-N model shares: validation NDCG per epoch, popularity fallback, TF seeding,
and the saved state of the similarity and factor models."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

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


def binarised(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """A copy of ``matrix`` with every stored value set to 1: which items, not how much."""
    binary = matrix.copy()
    binary.data[:] = 1.0
    return binary


class PrunedItemSimilarity:
    """What models whose whole fit is one pruned item x item matrix ``similarity_`` share.

    Item-kNN, RP3beta and sequence kNN differ only in how they build that matrix; its fit log,
    scoring product, similar-item lookup and saved arrays are the same, so they live here once.
    Mix in before ``Recommender`` so these methods take precedence over its defaults.
    """

    similarity_: sp.csr_matrix
    popularity_: np.ndarray

    def _log_similarity_fit(
        self, matrix: sp.csr_matrix, unpruned: sp.spmatrix, validation: sp.csr_matrix | None
    ) -> None:
        """Set the popularity fallback, then log the similarity mass pruning kept (no loss here)."""
        self.popularity_ = item_popularity(matrix)
        entry = {"kept_similarity": float(self.similarity_.sum() / max(unpruned.sum(), 1e-12))}
        if validation is not None:
            entry["val_ndcg@10"] = validation_ndcg(
                lambda users: self._score(users, matrix[users]), matrix, validation
            )
        self.history.log(**entry)

    def _similarity_scores(self, weights: sp.csr_matrix, user_items: sp.csr_matrix) -> np.ndarray:
        """``weights @ similarity_`` as dense scores; users with no history get popularity."""
        scores = np.asarray((weights @ self.similarity_).todense(), dtype=np.float32)
        fill_empty_rows(scores, user_items, self.popularity_)
        return scores

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity_.T.tocsr()[items].todense(), dtype=np.float32)

    def _get_state(self):
        sim = self.similarity_
        return {"n_users": self.n_users}, {
            "data": sim.data,
            "indices": sim.indices,
            "indptr": sim.indptr,
            "popularity": self.popularity_,
        }

    def _set_state(self, meta, arrays) -> None:
        self.n_users = int(meta["n_users"])
        self.popularity_ = arrays["popularity"]
        self.n_items = len(self.popularity_)
        self.similarity_ = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]),
            shape=(self.n_items, self.n_items),
        )


class FactorState:
    """Saved state of a factor model: its ``state_arrays`` attributes plus item popularity.

    ALS, BPR and two-tower keep nothing else, so their save and load live here once; each array
    is saved under its attribute's name, and ``n_items`` comes back from the popularity vector.
    Mix in before ``Recommender``, as with :class:`PrunedItemSimilarity`.
    """

    state_arrays: ClassVar[tuple[str, ...]]
    popularity_: np.ndarray

    def _get_state(self):
        arrays = {name: getattr(self, name) for name in self.state_arrays}
        return {"n_users": self.n_users}, {**arrays, "popularity": self.popularity_}

    def _set_state(self, meta, arrays) -> None:
        for name in self.state_arrays:
            setattr(self, name, arrays[name])
        self.popularity_ = arrays["popularity"]
        self.n_users = int(meta["n_users"])
        self.n_items = len(self.popularity_)


def factor_scores(
    users: np.ndarray,
    user_items: sp.csr_matrix,
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    popularity: np.ndarray,
    fold_in: Callable[[sp.csr_matrix], np.ndarray],
    item_bias: np.ndarray | None = None,
) -> np.ndarray:
    """Dot-product scores of a factor model, for users known at fit time or not.

    A user marked -1 gets a vector from ``fold_in(their rows)``, each model's own way of placing
    a new user; one with no interactions at all gets ``popularity`` instead.
    """
    vectors = np.zeros((len(users), item_vectors.shape[1]), np.float32)
    known = users >= 0
    vectors[known] = user_vectors[users[known]]
    if (~known).any():
        vectors[~known] = fold_in(user_items[~known])
    scores = vectors @ item_vectors.T
    if item_bias is not None:
        scores = scores + item_bias[None, :]
    scores[~known & (np.diff(user_items.indptr) == 0)] = popularity
    return scores


class BestEpoch:
    """Logs each training epoch and remembers the state of the one with the best validation NDCG.

    Without a validation matrix it only logs, and the last epoch's state stays in the model.
    """

    def __init__(self, model) -> None:
        self.model = model
        self.best = -1.0
        self.kept = None

    def log(self, entry: dict, matrix: sp.csr_matrix, validation: sp.csr_matrix | None) -> None:
        """Add validation NDCG@10 to ``entry`` (when there is validation) and log it."""
        if validation is not None:
            entry["val_ndcg@10"] = validation_ndcg(
                lambda users: self.model._score(users, matrix[users]), matrix, validation
            )
            if entry["val_ndcg@10"] > self.best:
                self.best, self.kept = entry["val_ndcg@10"], self.model._get_state()
        self.model.history.log(**entry)

    def restore(self) -> None:
        """Put the best epoch's state back into the model, if validation picked one."""
        if self.kept is not None:
            self.model._set_state(*self.kept)
