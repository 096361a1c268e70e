"""EASE: the closed-form shallow linear autoencoder of Steck (2019), with optional emphasis.

``B = argmin ||X - XB||^2 + ||Lambda^1/2 B||^2`` subject to ``diag(B) = 0`` has the closed form
``B = I - P diagMat(1 / diag(P))`` with ``P = (X^T X + Lambda)^-1``. ``Lambda`` is ``l2`` on the
diagonal, plus ``dropout / (1 - dropout) * diag(X^T X)`` when ``dropout`` > 0: the emphasised
denoising variant (EDLAE), which penalises popular items more. Float32 dense: fine up to a few
thousand items (the Gram matrix is n_items^2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.base import Recommender, register
from ml.models.common import fill_empty_rows, item_popularity, validation_ndcg
from ml.search import Choice, LogUniform

MAX_ITEMS = 20_000


@register
class EASE(Recommender):
    name = "ease"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"l2": 300.0, "dropout": 0.0}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        return {"l2": LogUniform(50.0, 3000.0), "dropout": Choice((0.0, 0.25, 0.5, 0.75))}

    def _fit(self, matrix, user_features, item_features, validation) -> None:
        l2, dropout = float(self.params["l2"]), float(self.params["dropout"])
        if l2 <= 0 or not 0.0 <= dropout < 1.0:
            raise ValueError("EASE needs l2 > 0 and 0 <= dropout < 1")
        if self.n_items > MAX_ITEMS:
            raise ValueError(
                f"EASE holds an items x items matrix; {self.n_items} items is too many"
            )
        gram = np.asarray((matrix.T @ matrix).todense(), dtype=np.float64)
        penalty = l2 + dropout / (1.0 - dropout) * np.diag(gram)
        inverse = np.linalg.inv(gram + np.diag(penalty))
        weights = -inverse / np.diag(inverse)[None, :]
        np.fill_diagonal(weights, 0.0)
        self.weights_ = weights.astype(np.float32)
        self.popularity_ = item_popularity(matrix)
        # Training objective: ||X - XB||^2 = tr(G) - 2 tr(B^T G) + tr(B^T G B), per user.
        residual = np.trace(gram) - 2 * np.sum(weights * gram) + np.sum(weights * (gram @ weights))
        entry = {"loss": float(residual / self.n_users)}
        if validation is not None:
            entry["val_ndcg@10"] = validation_ndcg(
                lambda users: self._score(users, matrix[users]), matrix, validation
            )
        self.history.log(**entry)

    def _score(self, users, user_items) -> np.ndarray:
        scores = np.asarray(user_items @ self.weights_, dtype=np.float32)
        fill_empty_rows(scores, user_items, self.popularity_)
        return scores

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        return self.weights_[:, items].T

    def _get_state(self):
        return {"n_users": self.n_users}, {
            "weights": self.weights_,
            "popularity": self.popularity_,
        }

    def _set_state(self, meta, arrays) -> None:
        self.n_users = int(meta["n_users"])
        self.weights_ = arrays["weights"]
        self.popularity_ = arrays["popularity"]
        self.n_items = len(self.popularity_)
