"""Item-based nearest neighbours (co-occurrence, cosine, Jaccard, lift: the SAR family).

Similarities come from the sparse co-occurrence matrix ``X^T X`` and are pruned to each item's
``neighbours`` best, so the model stays sparse and a user's scores are one sparse product:
``score(u, j) = sum_i x_ui * S_ij``. New users fold in for free from their interaction rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.base import Recommender, register
from ml.models.common import PrunedItemSimilarity, binarised
from ml.search import Choice, IntRange

SIMILARITIES = ("cooccurrence", "cosine", "jaccard", "lift")


def prune_rows(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Keep the ``keep`` largest entries of every row of a CSR matrix (ties: lowest column)."""
    matrix = sp.csr_matrix(matrix)
    matrix.sort_indices()
    if keep <= 0:
        return matrix
    rows, cols, vals = [], [], []
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        data, indices = matrix.data[start:end], matrix.indices[start:end]
        if len(data) > keep:
            best = np.argsort(-data, kind="stable")[:keep]
            data, indices = data[best], indices[best]
        rows.append(np.full(len(data), row, np.int64))
        cols.append(indices)
        vals.append(data)
    pruned = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=matrix.shape,
        dtype=np.float32,
    )
    pruned.sort_indices()
    return pruned


def item_similarity(binary: sp.csr_matrix, similarity: str, shrink: float) -> sp.csr_matrix:
    """Item x item similarity from a binary users x items matrix, self-similarity removed."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"unknown similarity {similarity!r}; choose one of {SIMILARITIES}")
    counts = np.asarray(binary.sum(axis=0), dtype=np.float64).ravel()
    cooc = sp.csr_matrix(binary.T @ binary, dtype=np.float64)
    cooc.setdiag(0)
    cooc.eliminate_zeros()
    coo = cooc.tocoo()
    left, right = counts[coo.row], counts[coo.col]
    if similarity == "cooccurrence":
        values = coo.data
    elif similarity == "cosine":
        values = coo.data / (np.sqrt(left * right) + shrink)
    elif similarity == "jaccard":
        values = coo.data / (left + right - coo.data + shrink)
    else:
        values = coo.data / (left * right + shrink)
    return sp.csr_matrix((values.astype(np.float32), (coo.row, coo.col)), shape=cooc.shape)


@register
class ItemKNN(PrunedItemSimilarity, Recommender):
    """SAR-like item-to-item model: a pruned similarity matrix times the user's history."""

    name = "itemknn"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        # neighbours: per target item, how many most-similar items vote (0 = all).
        # shrink: damps similarities of rarely co-consumed pairs.
        return {"similarity": "cosine", "neighbours": 100, "shrink": 0.0}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        return {
            "similarity": Choice(("cosine", "jaccard")),
            "neighbours": IntRange(20, 400, log=True),
            "shrink": Choice((0.0, 10.0, 50.0)),
        }

    def _fit(self, matrix, user_features, item_features, validation) -> None:
        if self.params["shrink"] < 0 or self.params["neighbours"] < 0:
            raise ValueError("shrink and neighbours must be non-negative")
        full = item_similarity(binarised(matrix), self.params["similarity"], self.params["shrink"])
        # Prune per target item (column), then store rows as source items for X @ S.
        self.similarity_ = prune_rows(full.T.tocsr(), self.params["neighbours"]).T.tocsr()
        self._log_similarity_fit(matrix, full, validation)

    def _score(self, users, user_items) -> np.ndarray:
        # Weighted by the interaction values, unlike RP3beta and sequence kNN.
        return self._similarity_scores(user_items, user_items)
