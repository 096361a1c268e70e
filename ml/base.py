"""The model interfaces shared by every family, in the style of ``implicit``.

Every model: ``fit`` -> ``save(folder)`` -> ``Model.load(folder)`` gives identical output. State is
plain numpy arrays plus JSON (``_get_state`` / ``_set_state``); TensorFlow models export their
weights as arrays so serving needs only numpy. Bad input raises ``ValueError`` with a clear message.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from ml.artifacts import load_folder, save_folder
from ml.history import TrainingHistory

MODEL_REGISTRY: dict[str, type[Model]] = {}


def register(cls: type[Model]) -> type[Model]:
    """Class decorator: make a model loadable by its ``name``."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__qualname__} needs a non-empty class attribute 'name'")
    MODEL_REGISTRY[cls.name] = cls
    return cls


def topn_family_names(values: str | None = None) -> list[str]:
    """Names of every top-N ``Recommender`` family, sorted: the models a user x items scenario
    can offer, kept in step with ``ml.models`` rather than a hand-written list. ``values``
    ("weights" or "times") keeps the families that read the matrix's values that way.

    Imports :mod:`ml.models` so every family is registered; that never imports TensorFlow.
    """
    import ml.models  # noqa: F401  (registers every family)

    return sorted(
        name
        for name, cls in MODEL_REGISTRY.items()
        if issubclass(cls, Recommender) and values in (None, cls.interaction_values)
    )


class Model:
    """Base of every model family: hyperparameters, training history, save and load."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""

    def __init__(self, **params: Any):
        self.params: dict[str, Any] = {**self.default_params(), **params}
        unknown = set(params) - set(self.default_params())
        if unknown:
            raise ValueError(f"{self.name}: unknown hyperparameters {sorted(unknown)}")
        self.history = TrainingHistory()
        self.fitted = False

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """Ranges the model search (:mod:`ml.search`) draws hyperparameters from; a family
        that declares none is tried at its defaults only."""
        return {}

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return (JSON-able metadata, arrays) describing the fitted model."""
        raise NotImplementedError

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise ValueError(f"{self.name}: call fit() (or load()) before using the model")

    def save(self, path: str | Path) -> Path:
        self._require_fitted()
        meta, arrays = self._get_state()
        config = {
            "name": self.name,
            "family": self.family,
            "params": self.params,
            "history": self.history.to_dict(),
            "meta": meta,
        }
        return save_folder(path, config, arrays)

    @classmethod
    def load(cls, path: str | Path) -> Model:
        config, arrays = load_folder(path)
        name = config["name"]
        target = MODEL_REGISTRY.get(name)
        if target is None:
            raise ValueError(f"unknown model {name!r}; import its module to register it")
        if cls is not Model and not issubclass(target, cls):
            raise ValueError(f"{path} holds a {name!r}, not a {cls.__name__}")
        model = target(**config["params"])
        model.history = TrainingHistory(config.get("history"))
        model._set_state(config.get("meta", {}), arrays)
        model.fitted = True
        return model


def check_interactions(interactions: Any, what: str = "interactions") -> sp.csr_matrix:
    """Validate a users x items matrix of non-negative finite weights and return it as CSR."""
    if not sp.issparse(interactions):
        raise ValueError(f"{what} must be a scipy.sparse matrix (users x items)")
    matrix = sp.csr_matrix(interactions, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty 2-D matrix, got shape {matrix.shape}")
    if matrix.nnz == 0:
        raise ValueError(f"{what} has no non-zero entries")
    if not np.all(np.isfinite(matrix.data)):
        raise ValueError(f"{what} contains NaN or infinite values")
    if (matrix.data < 0).any():
        raise ValueError(f"{what} contains negative weights")
    matrix.sum_duplicates()
    return matrix


class Recommender(Model, ABC):
    """Top-N recommendation over an items catalog (rows = users, columns = items).

    Subclasses implement ``_fit`` and ``_score`` (dense scores for a batch of users); the base
    class does validation, exclusion of seen and requested items, and sorted top-N selection.
    """

    family = "topn"
    interaction_values = "weights"  # what a matrix value means to fit(): a weight, or a time

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.n_users = 0
        self.n_items = 0

    def fit(
        self,
        interactions: sp.spmatrix,
        user_features: np.ndarray | None = None,
        item_features: np.ndarray | None = None,
        validation: sp.spmatrix | None = None,
    ) -> Recommender:
        """Fit on a users x items weight matrix; ``validation`` (same shape) drives early metrics."""
        matrix = check_interactions(interactions)
        self.n_users, self.n_items = matrix.shape
        if user_features is not None:
            user_features = np.asarray(user_features, dtype=np.float32)
            if user_features.ndim != 2 or user_features.shape[0] != self.n_users:
                raise ValueError("user_features must be a 2-D array with one row per user")
        if item_features is not None:
            item_features = np.asarray(item_features, dtype=np.float32)
            if item_features.ndim != 2 or item_features.shape[0] != self.n_items:
                raise ValueError("item_features must be a 2-D array with one row per item")
        if validation is not None:
            validation = check_interactions(validation, "validation")
            if validation.shape != matrix.shape:
                raise ValueError("validation must have the same shape as interactions")
        self.history = TrainingHistory()
        self._fit(matrix, user_features, item_features, validation)
        self.fitted = True
        return self

    @abstractmethod
    def _fit(self, matrix, user_features, item_features, validation) -> None: ...

    @abstractmethod
    def _score(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Scores [len(users), n_items]. ``users`` may hold -1 for users unseen at fit time."""

    def recommend(
        self,
        users: np.ndarray | list[int],
        user_items: sp.spmatrix,
        n: int = 10,
        exclude: list[np.ndarray | list[int]] | None = None,
        filter_seen: bool = True,
        items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` item indices and scores per user, best first.

        ``user_items`` holds each requested user's current interactions (one row per user, so
        events since training count). ``exclude`` is one list of item indices per user;
        ``items`` restricts the candidates. Rows with fewer candidates are padded with -1 / -inf.
        """
        self._require_fitted()
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        if n < 1:
            raise ValueError("n must be at least 1")
        user_items = sp.csr_matrix(user_items, dtype=np.float32)
        if user_items.shape != (len(users), self.n_items):
            raise ValueError(
                f"user_items must have shape ({len(users)}, {self.n_items}), got {user_items.shape}"
            )
        if exclude is not None and len(exclude) != len(users):
            raise ValueError("exclude must hold one list of item indices per user")
        if ((users < -1) | (users >= self.n_users)).any():
            raise ValueError(f"user indices must be in [-1, {self.n_users})")
        scores = np.asarray(self._score(users, user_items), dtype=np.float32).copy()
        scores[~np.isfinite(scores)] = -np.inf
        if filter_seen:
            rows, cols = user_items.nonzero()
            scores[rows, cols] = -np.inf
        if exclude is not None:
            for row, excluded in enumerate(exclude):
                excluded = np.asarray(excluded, dtype=np.int64)
                if excluded.size:
                    if ((excluded < 0) | (excluded >= self.n_items)).any():
                        raise ValueError(f"exclude[{row}] holds item indices out of range")
                    scores[row, excluded] = -np.inf
        if items is not None:
            allowed = np.zeros(self.n_items, dtype=bool)
            allowed[np.asarray(items, dtype=np.int64)] = True
            scores[:, ~allowed] = -np.inf
        return top_n(scores, n)

    def similar_items(
        self, items: np.ndarray | list[int], n: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """Most similar items per item (the item itself excluded), best first."""
        self._require_fitted()
        items = np.asarray(items, dtype=np.int64).reshape(-1)
        if ((items < 0) | (items >= self.n_items)).any():
            raise ValueError(f"item indices must be in [0, {self.n_items})")
        if n < 1:
            raise ValueError("n must be at least 1")
        scores = np.asarray(self._item_similarity(items), dtype=np.float32).copy()
        scores[np.arange(len(items)), items] = -np.inf
        return top_n(scores, n)

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        """Similarity [len(items), n_items]; default: cosine of ``item_embeddings()``."""
        vectors = self.item_embeddings()
        if vectors is None:
            raise NotImplementedError(f"{self.name} has no item similarity")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = vectors / np.maximum(norms, 1e-12)
        return unit[items] @ unit.T

    def item_embeddings(self) -> np.ndarray | None:
        """Item vectors for an ANN serving index, when the model has them."""
        return None


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted top-n per row; -inf entries become id -1."""
    batch, width = scores.shape
    k = min(n, width)
    part = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < width
        else np.tile(np.arange(width), (batch, 1))
    )
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    ids[~np.isfinite(top_scores)] = -1
    if k < n:
        ids = np.pad(ids, ((0, 0), (0, n - k)), constant_values=-1)
        top_scores = np.pad(top_scores, ((0, 0), (0, n - k)), constant_values=-np.inf)
    return ids, top_scores.astype(np.float32)
