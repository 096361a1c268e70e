"""Sequence-aware item-kNN: items consumed close together in users' timelines are neighbours.

Plain co-occurrence treats a user's whole history as one bag. People browse in runs, though (a
catalog page, a genre, a series), and items rated within a few steps of each other share more
than items rated months apart. Here two items gain ``decay ** (d - 1)`` each time they appear
``d`` steps apart (``d <= window``) in some user's time-ordered history; the counts are divided
by ``(n_i * n_j) ** exponent`` (item popularity) and pruned to each item's ``neighbours`` best.

Input contract: the interaction values are event times (any positive number that orders one
user's events: a timestamp in minutes, or the event's rank). Scoring only needs which items a user
has, so new users fold in from their rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.base import Recommender, register
from ml.models.common import PrunedItemSimilarity, binarised
from ml.models.itemknn import prune_rows


def sequence_cooccurrence(times: sp.csr_matrix, window: int, decay: float) -> sp.csr_matrix:
    """Symmetric item x item counts of pairs at most ``window`` steps apart in a user's timeline."""
    coo = times.tocoo()
    order = np.lexsort((coo.col, coo.data, coo.row))
    users, items = coo.row[order], coo.col[order].astype(np.int64)
    rows, cols, weights = [], [], []
    for step in range(1, window + 1):
        same_user = users[step:] == users[:-step]
        left, right = items[:-step][same_user], items[step:][same_user]
        weight = np.full(len(left), decay ** (step - 1), np.float32)
        rows += [left, right]
        cols += [right, left]
        weights += [weight, weight]
    n_items = times.shape[1]
    counts = sp.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    counts.sum_duplicates()
    counts.setdiag(0)
    counts.eliminate_zeros()
    return counts


@register
class SequenceKNN(PrunedItemSimilarity, Recommender):
    name = "seqknn"
    interaction_values = "times"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"window": 10, "decay": 0.8, "exponent": 0.5, "neighbours": 200}

    def _fit(self, matrix, user_features, item_features, validation) -> None:
        window, decay = int(self.params["window"]), float(self.params["decay"])
        if window < 1 or not 0.0 < decay <= 1.0 or self.params["neighbours"] < 0:
            raise ValueError("seqknn needs window >= 1, 0 < decay <= 1 and neighbours >= 0")
        counts = sequence_cooccurrence(matrix, window, decay)
        scale = sp.diags(
            np.power(np.maximum(np.diff(matrix.tocsc().indptr), 1.0), -self.params["exponent"])
        )
        similarity = sp.csr_matrix(scale @ counts @ scale, dtype=np.float32)
        self.similarity_ = prune_rows(similarity.T.tocsr(), self.params["neighbours"]).T.tocsr()
        self._log_similarity_fit(matrix, similarity, validation)

    def _score(self, users, user_items) -> np.ndarray:
        # Only which items a user has counts: the values are event times.
        return self._similarity_scores(binarised(user_items), user_items)
