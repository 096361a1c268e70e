"""RP3beta: three-step random walk user -> item -> user -> item, divided by popularity^beta.

Paudel et al. (2017); a strong graph baseline on MovieLens. Transition probabilities are raised to
``alpha``; dividing by item popularity to the power ``beta`` lifts the long tail. The item x item
walk matrix is pruned to each item's ``neighbours`` best, as in item-kNN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.base import Recommender, register
from ml.models.common import PrunedItemSimilarity, binarised
from ml.models.itemknn import prune_rows
from ml.search import IntRange, LogUniform


@register
class RP3Beta(PrunedItemSimilarity, Recommender):
    name = "rp3beta"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"alpha": 0.8, "beta": 0.4, "neighbours": 200}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        return {
            "alpha": LogUniform(0.3, 1.5),
            "beta": LogUniform(0.05, 0.8),
            "neighbours": IntRange(50, 400, log=True),
        }

    def _fit(self, matrix, user_features, item_features, validation) -> None:
        alpha, beta = float(self.params["alpha"]), float(self.params["beta"])
        if alpha <= 0 or beta < 0 or self.params["neighbours"] < 0:
            raise ValueError("RP3beta needs alpha > 0, beta >= 0, neighbours >= 0")
        binary = binarised(matrix)
        user_degree = np.maximum(np.asarray(binary.sum(axis=1)).ravel(), 1.0)
        item_degree = np.maximum(np.asarray(binary.sum(axis=0)).ravel(), 1.0)
        user_to_item = sp.diags(1.0 / user_degree) @ binary
        item_to_user = sp.diags(1.0 / item_degree) @ binary.T
        walk = sp.csr_matrix(item_to_user.power(alpha) @ user_to_item.power(alpha))
        walk = sp.csr_matrix(walk @ sp.diags(np.power(item_degree, -beta)), dtype=np.float32)
        walk.setdiag(0)
        walk.eliminate_zeros()
        self.similarity_ = prune_rows(walk.T.tocsr(), self.params["neighbours"]).T.tocsr()
        self._log_similarity_fit(matrix, walk, validation)

    def _score(self, users, user_items) -> np.ndarray:
        return self._similarity_scores(binarised(user_items), user_items)
