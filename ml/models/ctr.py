"""CTR ranking models: logistic regression (the baseline) and DeepFM.

Both take dense numeric features plus categorical fields and predict click probabilities.
Categorical values are indexed per field from the training data (values seen fewer than
``min_count`` times share the field's "rare" id 0, which also catches unseen values), so the
vocabulary is plain JSON. Serving needs numpy only: DeepFM trains in Keras and then exports its
embedding tables and dense layers as arrays, and ``predict_proba`` always runs the numpy forward
pass, so a loaded model gives exactly the output of the fitted one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from ml.base import Model, register
from ml.models.common import seed_tensorflow
from ml.search import Choice, LogUniform


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # tanh form never overflows


def fit_logistic(
    X: np.ndarray | sp.spmatrix,
    y: np.ndarray,
    l2: float,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 200,
    on_iteration=None,
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by L-BFGS; returns (weights, bias).

    Minimises mean weighted cross-entropy + l2/2 * |w|^2 (bias not penalised). Exact and fast
    for the few thousand columns of one-hot CTR or uplift data, with no tuning of a step size.
    ``on_iteration(w, b)`` is called after each L-BFGS iteration (for the training history).
    """
    n, d = X.shape
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    weight = weight / weight.sum()
    y = np.asarray(y, dtype=np.float64)

    def loss_and_grad(theta):
        w, b = theta[:d], theta[d]
        z = np.asarray(X @ w).ravel() + b
        loss = np.sum(weight * (np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * w @ w
        residual = weight * (sigmoid(z) - y)
        grad_w = np.asarray(X.T @ residual).ravel() + l2 * w
        return loss, np.r_[grad_w, residual.sum()]

    callback = None if on_iteration is None else (lambda theta: on_iteration(theta[:d], theta[d]))
    result = minimize(
        loss_and_grad,
        np.zeros(d + 1),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter},
        callback=callback,
    )
    return result.x[:d], float(result.x[d])


class CTRModel(Model):
    """Common validation and feature encoding; subclasses fit on encoded arrays."""

    family = "ctr"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"min_count": 2}

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.vocabulary: list[list[str]] = []
        self.num_mean = np.zeros(0, dtype=np.float64)
        self.num_std = np.ones(0, dtype=np.float64)

    # ----- input checks and encoding -------------------------------------------------------
    def _check(self, X_num, X_cat, y=None):
        X_num = np.asarray(X_num, dtype=np.float64)
        X_cat = np.asarray(X_cat)
        if X_num.ndim != 2 or X_cat.ndim != 2:
            raise ValueError("X_num and X_cat must be 2-D arrays [rows, features]")
        if X_num.shape[0] != X_cat.shape[0] or X_num.shape[0] == 0:
            raise ValueError("X_num and X_cat must have the same, non-zero number of rows")
        if np.isinf(X_num).any():
            raise ValueError("X_num contains infinite values (use NaN for missing)")
        if self.fitted and (
            X_num.shape[1] != len(self.num_mean) or X_cat.shape[1] != len(self.vocabulary)
        ):
            raise ValueError(
                f"expected {len(self.num_mean)} numeric and {len(self.vocabulary)} categorical "
                f"columns, got {X_num.shape[1]} and {X_cat.shape[1]}"
            )
        if y is not None:
            y = np.asarray(y, dtype=np.float64).reshape(-1)
            if y.shape[0] != X_num.shape[0]:
                raise ValueError("y must have one label per row")
            if not np.isin(y, (0.0, 1.0)).all():
                raise ValueError("y must hold 0/1 labels")
            if y.min() == y.max():
                raise ValueError("y must contain both clicks (1) and non-clicks (0)")
        return X_num, X_cat.astype(str), y

    @staticmethod
    def _squash(X_num: np.ndarray) -> np.ndarray:
        """Signed log of counts (heavy-tailed in CTR logs); missing -> 0 before scaling."""
        return np.nan_to_num(np.sign(X_num) * np.log1p(np.abs(X_num)), nan=0.0)

    def _fit_encoding(self, X_num: np.ndarray, X_cat: np.ndarray) -> None:
        squashed = self._squash(X_num)
        self.num_mean = squashed.mean(axis=0)
        # A column constant in training keeps unit scale: a 1e-6 floor would blow a value
        # seen only at serving (a user's first click) up a million times.
        spread = squashed.std(axis=0)
        self.num_std = np.where(spread > 1e-6, spread, 1.0)
        self.vocabulary = []
        for column in X_cat.T:
            counts = Counter(column.tolist())
            kept = sorted(v for v, c in counts.items() if c >= self.params["min_count"])
            self.vocabulary.append(kept)
        self._build_lookup()

    def _build_lookup(self) -> None:
        self._lookup = [{v: i + 1 for i, v in enumerate(values)} for values in self.vocabulary]
        sizes = np.array([len(values) + 1 for values in self.vocabulary], dtype=np.int64)
        self.field_offsets = np.r_[0, np.cumsum(sizes)[:-1]]
        self.n_categories = int(sizes.sum())

    def _encode(self, X_num, X_cat) -> tuple[np.ndarray, np.ndarray]:
        """Standardised numeric features [n, d] and global category ids [n, fields]."""
        numeric = (self._squash(X_num) - self.num_mean) / self.num_std
        local = np.array(
            [
                [lookup.get(v, 0) for v in column]
                for lookup, column in zip(self._lookup, X_cat.T, strict=True)
            ],
            dtype=np.int64,
        ).T.reshape(X_cat.shape)
        return numeric.astype(np.float32), local + self.field_offsets

    # ----- public interface ------------------------------------------------------------------
    def fit(self, X_num, X_cat, y, validation=None) -> CTRModel:
        """Fit on numeric [n, d] (NaN = missing) and categorical [n, fields] features.

        ``validation`` = (X_num, X_cat, y) is scored every epoch (and drives early stopping
        where the model has it).
        """
        self.fitted = False  # a refit may change the columns
        X_num, X_cat, y = self._check(X_num, X_cat, y)
        self._fit_encoding(X_num, X_cat)
        numeric, categories = self._encode(X_num, X_cat)
        encoded_validation = None
        if validation is not None:
            if len(validation) != 3:
                raise ValueError("validation must be (X_num, X_cat, y)")
            self.fitted = True  # enables the column-count check against the training data
            try:
                v_num, v_cat, v_y = self._check(*validation)
            finally:
                self.fitted = False
            encoded_validation = (*self._encode(v_num, v_cat), v_y)
        self.history = type(self.history)()
        self._fit(numeric, categories, y, encoded_validation)
        self.fitted = True
        return self

    def predict_proba(self, X_num, X_cat) -> np.ndarray:
        """Click probability per row (numpy only)."""
        self._require_fitted()
        X_num, X_cat, _ = self._check(X_num, X_cat)
        return sigmoid(self._logits(*self._encode(X_num, X_cat)).astype(np.float64))

    def _fit(self, numeric, categories, y, validation) -> None:
        raise NotImplementedError

    def _logits(self, numeric: np.ndarray, categories: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _encoding_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"vocabulary": self.vocabulary}
        return meta, {"num_mean": self.num_mean, "num_std": self.num_std}

    def _set_encoding_state(self, meta, arrays) -> None:
        self.vocabulary = [list(values) for values in meta["vocabulary"]]
        self.num_mean = arrays["num_mean"]
        self.num_std = arrays["num_std"]
        self._build_lookup()


def _one_hot_design(
    numeric: np.ndarray, categories: np.ndarray, n_categories: int
) -> sp.csr_matrix:
    """[numeric | one-hot of every field's category id] as one sparse matrix."""
    n, fields = categories.shape
    one_hot = sp.csr_matrix(
        (np.ones(n * fields), categories.ravel(), np.arange(0, n * fields + 1, fields)),
        shape=(n, n_categories),
    )
    return sp.hstack([sp.csr_matrix(numeric), one_hot], format="csr")


@register
class LogisticCTR(CTRModel):
    """The baseline: logistic regression on numeric features and one-hot categories (L2)."""

    name = "logistic_ctr"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {**super().default_params(), "l2": 1e-3, "max_iter": 200}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        return {"l2": LogUniform(1e-5, 1e-1)}

    def _fit(self, numeric, categories, y, validation) -> None:
        from ml.metrics.classification import log_loss, roc_auc

        design = _one_hot_design(numeric, categories, self.n_categories)
        val_design = None
        if validation is not None:
            val_design = _one_hot_design(validation[0], validation[1], self.n_categories)

        def record(w, b):
            p = sigmoid(design @ w + b)
            entry = {"loss": log_loss(y, p)}
            if val_design is not None:
                val_p = sigmoid(val_design @ w + b)
                entry["val_logloss"] = log_loss(validation[2], val_p)
                if 0 < validation[2].sum() < len(validation[2]):
                    entry["val_auc"] = roc_auc(validation[2], val_p)
            self.history.log(**entry)

        self.weights, self.bias = fit_logistic(
            design, y, self.params["l2"], max_iter=self.params["max_iter"], on_iteration=record
        )

    def _logits(self, numeric, categories):
        d = numeric.shape[1]
        return numeric @ self.weights[:d] + self.weights[d:][categories].sum(axis=1) + self.bias

    def _get_state(self):
        meta, arrays = self._encoding_state()
        return {**meta, "bias": self.bias}, {**arrays, "weights": self.weights}

    def _set_state(self, meta, arrays):
        self._set_encoding_state(meta, arrays)
        self.weights, self.bias = arrays["weights"], float(meta["bias"])


@register
class DeepFM(CTRModel):
    """DeepFM (Guo et al. 2017): first-order terms + factorization machine + MLP, one logit.

    Every categorical field and every numeric feature is a "field" with a k-dim embedding (a
    numeric feature's vector is scaled by its value). The FM part models all pairwise field
    interactions; the MLP on the concatenated embeddings models higher-order ones. Trained
    with Adam on binary cross-entropy; early stopping on validation log loss keeps the best
    epoch's weights.
    """

    name = "deepfm"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            **super().default_params(),
            "embedding_dim": 8,
            "hidden": [64, 32],
            "l2": 1e-5,
            "dropout": 0.0,
            "learning_rate": 3e-3,
            "epochs": 20,
            "batch_size": 256,
            "patience": 3,
            "seed": 0,
        }

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        # Few epochs (no early stopping without a validation part): a fit stays seconds on
        # a log of thousands of impressions.
        return {
            "embedding_dim": Choice((4, 8, 16)),
            "learning_rate": LogUniform(1e-3, 1e-2),
            "epochs": Choice((5, 10, 20)),
            "l2": LogUniform(1e-7, 1e-4),
        }

    def _fit(self, numeric, categories, y, validation) -> None:
        import keras
        from keras import ops

        from ml.metrics.classification import roc_auc

        p = self.params
        seed_tensorflow(p["seed"])
        n_numeric, n_fields = numeric.shape[1], categories.shape[1]
        n_categories = self.n_categories
        regularizer = keras.regularizers.L2(p["l2"]) if p["l2"] > 0 else None

        class DeepFMNet(keras.Model):
            def __init__(self):
                super().__init__()
                self.first_order = keras.layers.Embedding(
                    n_categories,
                    1,
                    embeddings_initializer="zeros",
                    embeddings_regularizer=regularizer,
                )
                self.embedding = keras.layers.Embedding(
                    n_categories,
                    p["embedding_dim"],
                    embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
                    embeddings_regularizer=regularizer,
                )
                self.numeric_linear = keras.layers.Dense(1)
                self.numeric_vectors = self.add_weight(
                    shape=(n_numeric, p["embedding_dim"]),
                    initializer=keras.initializers.RandomNormal(stddev=0.01),
                    regularizer=regularizer,
                    name="numeric_vectors",
                )
                self.hidden = [
                    keras.layers.Dense(units, activation="relu") for units in p["hidden"]
                ]
                self.dropout = keras.layers.Dropout(p["dropout"])
                self.out = keras.layers.Dense(1)

            def call(self, inputs, training=False):
                num, cat = inputs["numeric"], inputs["categories"]
                vectors = ops.concatenate(
                    [self.embedding(cat), ops.expand_dims(num, -1) * self.numeric_vectors], axis=1
                )
                linear = ops.sum(self.first_order(cat), axis=(1, 2)) + ops.squeeze(
                    self.numeric_linear(num), -1
                )
                summed = ops.sum(vectors, axis=1)
                fm = 0.5 * ops.sum(summed * summed - ops.sum(vectors * vectors, axis=1), axis=1)
                h = ops.reshape(vectors, (-1, (n_fields + n_numeric) * p["embedding_dim"]))
                for layer in self.hidden:
                    h = self.dropout(layer(h), training=training)
                return linear + fm + ops.squeeze(self.out(h), -1)

        net = DeepFMNet()
        net.compile(
            optimizer=keras.optimizers.Adam(p["learning_rate"]),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
        )
        inputs = {"numeric": numeric, "categories": categories}
        callbacks = []
        val_data = None
        if validation is not None:
            val_data = (
                {"numeric": validation[0], "categories": validation[1]},
                validation[2].astype(np.float32),
            )
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=p["patience"], restore_best_weights=True
                )
            )
        fitted = net.fit(
            inputs,
            y.astype(np.float32),
            batch_size=p["batch_size"],
            epochs=p["epochs"],
            validation_data=val_data,
            callbacks=callbacks,
            shuffle=True,
            verbose=0,
        )
        self._export(net)
        for epoch, loss in enumerate(fitted.history["loss"]):
            entry = {"loss": loss}
            if validation is not None:
                entry["val_logloss"] = fitted.history["val_loss"][epoch]
            self.history.log(**entry)
        if validation is not None and 0 < validation[2].sum() < len(validation[2]):
            self.history.log(
                val_auc_best=roc_auc(
                    validation[2], sigmoid(self._logits(validation[0], validation[1]))
                )
            )

    def _export(self, net) -> None:
        """Copy the trained weights into plain arrays for the numpy forward pass."""
        self.arrays = {
            "first_order": net.first_order.embeddings.numpy()[:, 0],
            "embedding": net.embedding.embeddings.numpy(),
            "numeric_linear_w": net.numeric_linear.kernel.numpy()[:, 0],
            "numeric_linear_b": net.numeric_linear.bias.numpy(),
            "numeric_vectors": net.numeric_vectors.numpy(),
            "out_w": net.out.kernel.numpy(),
            "out_b": net.out.bias.numpy(),
        }
        for i, layer in enumerate(net.hidden):
            self.arrays[f"hidden{i}_w"] = layer.kernel.numpy()
            self.arrays[f"hidden{i}_b"] = layer.bias.numpy()

    def _logits(self, numeric, categories):
        a = self.arrays
        vectors = np.concatenate(
            [a["embedding"][categories], numeric[:, :, None] * a["numeric_vectors"][None]], axis=1
        )
        linear = (
            a["first_order"][categories].sum(axis=1)
            + numeric @ a["numeric_linear_w"]
            + a["numeric_linear_b"][0]
        )
        summed = vectors.sum(axis=1)
        fm = 0.5 * (summed * summed - (vectors * vectors).sum(axis=1)).sum(axis=1)
        h = vectors.reshape(len(vectors), -1)
        for i in range(len(self.params["hidden"])):
            h = np.maximum(h @ a[f"hidden{i}_w"] + a[f"hidden{i}_b"], 0.0)
        return linear + fm + (h @ a["out_w"])[:, 0] + a["out_b"][0]

    def _get_state(self):
        meta, arrays = self._encoding_state()
        return meta, {**arrays, **self.arrays}

    def _set_state(self, meta, arrays):
        self._set_encoding_state(meta, arrays)
        self.arrays = {k: v for k, v in arrays.items() if k not in ("num_mean", "num_std")}
