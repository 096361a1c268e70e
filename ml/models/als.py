"""Implicit-feedback ALS (Hu, Koren and Volinsky, 2008) in numpy.

Every user-item cell is a preference ``p`` (1 if the user interacted, else 0) held with
confidence ``c = 1 + alpha * value / mean value``: dividing by the training matrix's mean cell
keeps ``alpha`` meaning the same whether a store weighs an event 1 or 3 (a 0/1 matrix is
unchanged), so tuned settings carry over between stores. Alternating ridge solves minimise
``sum c (p - x_u . y_i)^2 + l2 (|X|^2 + |Y|^2)``. Each solve uses the shared ``Y^T Y`` plus a
correction from the user's own items only, so an iteration costs O(nnz * f^2 + (users + items)
* f^3). The same solve folds in users unseen at fit time, exactly as training would place them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.base import Recommender, register
from ml.models.common import FactorState, factor_scores, item_popularity, validation_ndcg
from ml.search import Choice, LogUniform


def solve_rows(
    matrix: sp.csr_matrix,
    fixed: np.ndarray,
    alpha: float,
    l2: float,
    row_block: int = 2048,
    col_block: int = 2048,
) -> np.ndarray:
    """Best vectors for every row of ``matrix`` given the other side's ``fixed`` factors.

    Row u solves ``(F^T F + l2 I + F^T diag(alpha * r_u) F) x = F^T (1 + alpha * r_u)``. The
    per-row corrections for a block of rows come from one sparse product with the row-wise outer
    products of ``fixed`` (``[n_fixed, f*f]``, built in column blocks), then one batched solve.
    """
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    fixed = np.asarray(fixed, dtype=np.float32)
    dim = fixed.shape[1]
    base = fixed.T.astype(np.float64) @ fixed + l2 * np.eye(dim)
    confidence = matrix.copy()
    confidence.data = alpha * confidence.data
    target = confidence.copy()
    target.data = target.data + 1.0
    rhs = np.asarray(target @ fixed, dtype=np.float64)
    solved = np.zeros((matrix.shape[0], dim))
    for start in range(0, matrix.shape[0], row_block):
        rows = confidence[start : start + row_block]
        grams = np.zeros((rows.shape[0], dim * dim), np.float32)
        for col in range(0, fixed.shape[0], col_block):
            part = fixed[col : col + col_block]
            outer = (part[:, :, None] * part[:, None, :]).reshape(len(part), dim * dim)
            grams += rows[:, col : col + col_block] @ outer
        # Accumulate in float32 (twice as fast), solve in float64.
        grams = grams.reshape(-1, dim, dim).astype(np.float64) + base[None]
        solved[start : start + row_block] = np.linalg.solve(
            grams, rhs[start : start + row_block, :, None]
        )[..., 0]
    return solved


PAIR_CHUNK = 1 << 18  # pairs gathered at once: 2 x 262,144 x f floats, whatever the data's size


def pair_dots(left: np.ndarray, right: np.ndarray, rows: np.ndarray, cols: np.ndarray):
    """``left[rows[i]] . right[cols[i]]`` for every pair, gathered a chunk at a time: gathering
    every non-zero's two vectors at once was the fit's peak memory (1,854 MB against 683 MB
    chunked on 2.66 million non-zeros and 64 factors; 12.4 GB at the 20-million-event store)."""
    out = np.empty(len(rows), dtype=np.result_type(left, right))
    for start in range(0, len(rows), PAIR_CHUNK):
        end = start + PAIR_CHUNK
        out[start:end] = np.einsum("nf,nf->n", left[rows[start:end]], right[cols[start:end]])
    return out


def conjugate_gradient_rows(
    matrix: sp.csr_matrix,
    fixed: np.ndarray,
    alpha: float,
    l2: float,
    start: np.ndarray,
    steps: int,
) -> np.ndarray:
    """A few conjugate-gradient steps on every row's system at once, warm-started at ``start``.

    The same systems as :func:`solve_rows`, without forming them: ``A x`` costs one dense product
    with ``F^T F`` plus one pass over the row's non-zeros, so a step is O(nnz * f), not O(f^3).
    Three steps from the previous iteration's vectors are as good as the exact solve (Takács et
    al., 2011), at a fraction of the cost.
    """
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    fixed = np.asarray(fixed, dtype=np.float32)
    base = (fixed.T @ fixed + l2 * np.eye(fixed.shape[1])).astype(np.float32)
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int32), np.diff(matrix.indptr))
    cols = matrix.indices
    confidence = alpha * matrix.data
    product = matrix.copy()

    def apply(vectors: np.ndarray) -> np.ndarray:
        product.data = confidence * pair_dots(vectors, fixed, rows, cols)
        return vectors @ base + product @ fixed

    target = matrix.copy()
    target.data = 1.0 + confidence
    solution = np.asarray(start, dtype=np.float32).copy()
    residual = np.asarray(target @ fixed) - apply(solution)
    direction = residual.copy()
    norm = np.einsum("nf,nf->n", residual, residual)
    for _ in range(steps):
        moved = apply(direction)
        curvature = np.einsum("nf,nf->n", direction, moved)
        step = np.divide(norm, curvature, out=np.zeros_like(norm), where=curvature > 1e-20)
        solution += step[:, None] * direction
        residual -= step[:, None] * moved
        new_norm = np.einsum("nf,nf->n", residual, residual)
        ratio = np.divide(new_norm, norm, out=np.zeros_like(norm), where=norm > 1e-20)
        direction = residual + ratio[:, None] * direction
        norm = new_norm
    return solution


def weighted_loss(
    matrix: sp.csr_matrix, users: np.ndarray, items: np.ndarray, alpha: float, l2: float
) -> float:
    """The training objective, using ``sum (x.y)^2 = <X^T X, Y^T Y>`` for the zero cells."""
    coo = matrix.tocoo()
    predicted = pair_dots(users, items, coo.row, coo.col)
    confidence = 1.0 + alpha * coo.data
    loss = float(np.sum((users.T @ users) * (items.T @ items)))
    loss += float(np.sum(confidence * (1.0 - predicted) ** 2 - predicted**2))
    return loss + l2 * float(np.sum(users**2) + np.sum(items**2))


@register
class ALS(FactorState, Recommender):
    name = "als"
    state_arrays = ("user_factors", "item_factors")

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        # cg_steps: conjugate-gradient steps per solve (0 = exact batched solve, slower).
        return {
            "factors": 64,
            "iterations": 15,
            "alpha": 4.0,
            "l2": 30.0,
            "cg_steps": 3,
            "seed": 42,
        }

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        # alpha is the confidence per unit of event weight, so its range spans stores whose
        # weights are 1 per event and those whose weights run to 5 or more.
        return {
            "factors": Choice((32, 64, 128)),
            "l2": LogUniform(5.0, 200.0),
            "alpha": LogUniform(0.2, 20.0),
            "iterations": Choice((10, 15)),
        }

    def _fit(self, matrix, user_features, item_features, validation) -> None:
        alpha, l2 = float(self.params["alpha"]), float(self.params["l2"])
        if alpha <= 0 or l2 <= 0 or self.params["factors"] < 1:
            raise ValueError("ALS needs alpha > 0, l2 > 0 and factors >= 1")
        self.value_scale_ = float(matrix.data.mean())
        matrix = sp.csr_matrix(matrix * (1.0 / self.value_scale_), dtype=np.float32)
        rng = np.random.default_rng(self.params["seed"])
        dim = int(self.params["factors"])
        users = rng.normal(0.0, 0.01, (self.n_users, dim))
        items = rng.normal(0.0, 0.01, (self.n_items, dim))
        by_item = matrix.T.tocsr()
        self.popularity_ = item_popularity(matrix)
        steps = int(self.params["cg_steps"])
        for _ in range(int(self.params["iterations"])):
            if steps > 0:
                users = conjugate_gradient_rows(matrix, items, alpha, l2, users, steps)
                items = conjugate_gradient_rows(by_item, users, alpha, l2, items, steps)
            else:
                users = solve_rows(matrix, items, alpha, l2)
                items = solve_rows(by_item, users, alpha, l2)
            self.user_factors = users.astype(np.float32)
            self.item_factors = items.astype(np.float32)
            entry = {"loss": weighted_loss(matrix, users, items, alpha, l2) / self.n_users}
            if validation is not None:
                entry["val_ndcg@10"] = validation_ndcg(
                    lambda batch: self._score(batch, matrix[batch]), matrix, validation
                )
            self.history.log(**entry)

    def _score(self, users, user_items) -> np.ndarray:
        return factor_scores(
            users,
            user_items,
            self.user_factors,
            self.item_factors,
            self.popularity_,
            lambda rows: solve_rows(
                sp.csr_matrix(rows, dtype=np.float64) * (1.0 / self.value_scale_),
                self.item_factors.astype(np.float64),
                float(self.params["alpha"]),
                float(self.params["l2"]),
            ),
        )

    def _get_state(self):
        meta, arrays = super()._get_state()
        return {**meta, "value_scale": self.value_scale_}, arrays

    def _set_state(self, meta, arrays) -> None:
        super()._set_state(meta, arrays)
        self.value_scale_ = float(meta.get("value_scale", 1.0))  # saved before the scale: 1.0

    def item_embeddings(self) -> np.ndarray:
        return self.item_factors
