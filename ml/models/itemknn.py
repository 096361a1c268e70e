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
from ml.models.common import fill_empty_rows, item_popularity, validation_ndcg

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
class ItemKNN(Recommender):
    """SAR-like item-to-item model: a pruned similarity matrix times the user's history."""

    name = "itemknn"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        # neighbours: per target item, how many most-similar items vote (0 = all).
        # shrink: damps similarities of rarely co-consumed pairs.
        return {"similarity": "cosine", "neighbours": 100, "shrink": 0.0}

    def _fit(self, matrix, user_features, item_features, validation) -> None:
        if self.params["shrink"] < 0 or self.params["neighbours"] < 0:
            raise ValueError("shrink and neighbours must be non-negative")
        binary = matrix.copy()
        binary.data[:] = 1.0
        full = item_similarity(binary, self.params["similarity"], self.params["shrink"])
        # Prune per target item (column), then store rows as source items for X @ S.
        self.similarity_ = prune_rows(full.T.tocsr(), self.params["neighbours"]).T.tocsr()
        self.popularity_ = item_popularity(matrix)
        # No iterative loss here: record how much similarity mass the pruning kept.
        entry = {"kept_similarity": float(self.similarity_.sum() / max(full.sum(), 1e-12))}
        if validation is not None:
            entry["val_ndcg@10"] = validation_ndcg(
                lambda users: self._score(users, matrix[users]), matrix, validation
            )
        self.history.log(**entry)

    def _score(self, users, user_items) -> np.ndarray:
        scores = np.asarray((user_items @ self.similarity_).todense(), dtype=np.float32)
        fill_empty_rows(scores, user_items, self.popularity_)
        return scores

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity_.T.tocsr()[items].todense(), dtype=np.float32)

    def _get_state(self):
        sim = self.similarity_
        arrays = {
            "data": sim.data,
            "indices": sim.indices,
            "indptr": sim.indptr,
            "popularity": self.popularity_,
        }
        return {"n_users": self.n_users}, arrays

    def _set_state(self, meta, arrays) -> None:
        self.n_users = int(meta["n_users"])
        self.popularity_ = arrays["popularity"]
        self.n_items = len(self.popularity_)
        self.similarity_ = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]),
            shape=(self.n_items, self.n_items),
        )
