"""pCTR of many ads in one request's context, with each ad's own share of the model folded in
ahead of time.

Within one request only the ad's own fields (ad, campaign, item category) and one history
feature (the user's purchases in the ad's department) differ between candidates; the slot,
device, hour, the user's attributes and their other counts are the same for all. Both CTR
families are sums over fields up to a nonlinearity (logistic regression's logit; DeepFM's
first-order terms, its factorization machine, and its first hidden layer before the ReLU), so
each ad's share is computed once per inventory and model version, the request's share once per
department, and a request adds the two and runs DeepFM's remaining small layers: the same
numbers as ``model.predict_proba`` on the strings (tested), for a few array operations.
"""

from __future__ import annotations

import numpy as np

from ml.models.ctr import DeepFM, LogisticCTR, sigmoid

# The model's categorical fields (scenario.CATEGORICAL order): the ad's own, and the request's.
AD_FIELDS = (0, 1, 5)
CONTEXT_FIELDS = (2, 3, 4, 6, 7)


def ad_codes(book, model) -> np.ndarray:
    """The model's global category ids [ads, 3] of every ad's own fields (ad, campaign, item
    category), as ``model.predict_proba`` would encode their strings."""
    codes = np.zeros((len(book), len(AD_FIELDS)), dtype=np.int64)
    columns = (book.ad_ids.tolist(), [str(c) for c in book.campaigns.tolist()], book.categories)
    for j, (field_index, column) in enumerate(zip(AD_FIELDS, columns, strict=True)):
        lookup = model._lookup[field_index]
        codes[:, j] = [lookup.get(str(v), 0) for v in column]
        codes[:, j] += model.field_offsets[field_index]
    return codes


class Scorer:
    """One model version's pCTR over one inventory (an ``AdBook``)."""

    def __init__(self, model, book):
        self.model = model
        self.departments = book.department_codes
        self.department_names = book.department_names
        self._fold_ads(ad_codes(book, model))

    @staticmethod
    def build(model, book) -> Scorer:
        if isinstance(model, DeepFM):
            return DeepFMScorer(model, book)
        if isinstance(model, LogisticCTR):
            return LogisticScorer(model, book)
        raise TypeError(f"no folded scoring for {type(model).__name__}")

    def context_codes(self, slot, device, hour, age_band, location) -> np.ndarray:
        """The request's five category ids (unseen values: the field's rare id)."""
        values = (slot, device, hour, age_band, location)
        model = self.model
        return np.array(
            [
                model._lookup[f].get(str(v), 0) + model.field_offsets[f]
                for f, v in zip(CONTEXT_FIELDS, values, strict=True)
            ],
            dtype=np.int64,
        )

    def department_numeric(self, history) -> np.ndarray:
        """The model's scaled history features [departments, 4] of this user (``history``: a
        ``queries.HistoryCounts`` or None), one row per department of the inventory."""
        numeric = np.zeros((max(len(self.department_names), 1), 4))
        if history is not None:
            bought = history.purchases or {}
            numeric[:, :3] = history.impressions, history.clicks, sum(bought.values())
            if bought and self.department_names:
                numeric[:, 3] = [bought.get(name, 0) for name in self.department_names]
        # The model's squash (signed log) of counts, which are never negative.
        return (np.log1p(numeric) - self.model.num_mean) / self.model.num_std

    def pctr(self, rows: np.ndarray, context: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        """pCTR of these inventory rows for ``context_codes`` and ``department_numeric``."""
        if not len(rows):
            return np.zeros(0)
        return sigmoid(self.logits(rows, context, numeric))


class LogisticScorer(Scorer):
    def _fold_ads(self, codes):
        self.weights = self.model.weights[len(self.model.num_mean) :]
        self.ad_part = self.weights[codes].sum(axis=1)

    def logits(self, rows, context, numeric):
        d = len(self.model.num_mean)
        per_department = numeric @ self.model.weights[:d] + self.weights[context].sum()
        return self.ad_part[rows] + per_department[self.departments[rows]] + self.model.bias


class DeepFMScorer(Scorer):
    def _fold_ads(self, codes):
        a = self.model.arrays
        embedding = a["embedding"].astype(np.float64)
        k = embedding.shape[1]
        first = a["hidden0_w"].astype(np.float64)
        # The first hidden layer's weights of each input vector: 8 fields, then the numerics.
        self.blocks = first.reshape(-1, k, first.shape[1])
        self.embedding, self.first_order = embedding, a["first_order"].astype(np.float64)
        vectors = embedding[codes]  # [ads, 3, k]
        self.ad_first = self.first_order[codes].sum(axis=1)
        self.ad_sum = vectors.sum(axis=1)
        self.ad_squares = (vectors * vectors).sum(axis=(1, 2))
        # The layers run in float32, as the model's own forward pass does (half the time).
        self.ad_hidden = np.einsum("afk,fkh->ah", vectors, self.blocks[list(AD_FIELDS)]).astype(
            np.float32
        )
        numeric_vectors = a["numeric_vectors"].astype(np.float64)  # [4, k]
        self.numeric_vectors = numeric_vectors
        self.numeric_hidden = np.einsum("jk,jkh->jh", numeric_vectors, self.blocks[8:])
        self.numeric_squares = (numeric_vectors * numeric_vectors).sum(axis=1)
        self.layers = [
            (a[f"hidden{i}_w"].astype(np.float32), a[f"hidden{i}_b"].astype(np.float32))
            for i in range(len(self.model.params["hidden"]))
        ]
        self.out_w = a["out_w"][:, 0].astype(np.float32)
        self.out_b = float(a["out_b"][0])
        self.linear_w = a["numeric_linear_w"].astype(np.float64)
        self.linear_b = float(a["numeric_linear_b"][0])

    def logits(self, rows, context, numeric):
        vectors = self.embedding[context]  # [5, k]
        # The request's share per department: first-order, FM sum and squares, hidden input.
        first = self.first_order[context].sum() + numeric @ self.linear_w + self.linear_b
        summed = vectors.sum(axis=0) + numeric @ self.numeric_vectors
        squares = (vectors * vectors).sum() + (numeric * numeric) @ self.numeric_squares
        hidden = (
            np.einsum("fk,fkh->h", vectors, self.blocks[list(CONTEXT_FIELDS)])
            + numeric @ self.numeric_hidden
            + self.layers[0][1]
        ).astype(np.float32)
        departments = self.departments[rows]
        total = self.ad_sum[rows] + summed[departments]
        fm = 0.5 * ((total * total).sum(axis=1) - self.ad_squares[rows] - squares[departments])
        h = np.maximum(self.ad_hidden[rows] + hidden[departments], 0.0)
        for weights, bias in self.layers[1:]:
            h = np.maximum(h @ weights + bias, 0.0)
        return self.ad_first[rows] + first[departments] + fm + h @ self.out_w + self.out_b
