"""Uplift models (who is persuaded by an offer?) and budget-constrained offer allocation.

Trained on a randomized campaign: features, whether each person was treated (got the coupon or
e-mail), and the binary outcome. ``predict_uplift`` estimates P(outcome | treated) -
P(outcome | control) per person. Both models serve with numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.base import Model, register
from ml.models.common import seed_tensorflow
from ml.models.ctr import fit_logistic, sigmoid


class UpliftModel(Model):
    """Validation, feature scaling and the fit / predict_uplift interface."""

    family = "uplift"

    def _check(self, X, treatment=None, y=None):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError("X must be a non-empty 2-D array [people, features]")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values")
        if self.fitted and X.shape[1] != len(self.mean):
            raise ValueError(f"X must have {len(self.mean)} columns, got {X.shape[1]}")
        if treatment is None:
            return X, None, None
        treatment = np.asarray(treatment).reshape(-1)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if treatment.shape[0] != X.shape[0] or y.shape[0] != X.shape[0]:
            raise ValueError("treatment and y need one value per row of X")
        if not np.isin(treatment, (0, 1)).all():
            raise ValueError("treatment must be 0 (control) or 1 (treated)")
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("y must hold 0/1 outcomes")
        treatment = treatment.astype(bool)
        for arm, name in ((treatment, "treated"), (~treatment, "control")):
            if arm.sum() == 0 or y[arm].min() == y[arm].max():
                raise ValueError(f"the {name} group needs both outcomes (0 and 1)")
        return X, treatment, y

    def fit(self, X, treatment, y, validation=None) -> UpliftModel:
        """Fit on features [n, d], treatment flags (0/1) and binary outcomes.

        ``validation`` = (X, treatment, y) is used for a per-epoch Qini coefficient (and early
        stopping where the model has it).
        """
        self.fitted = False
        X, treatment, y = self._check(X, treatment, y)
        self.mean = X.mean(axis=0)
        self.std = np.maximum(X.std(axis=0), 1e-9)
        if validation is not None:
            if len(validation) != 3:
                raise ValueError("validation must be (X, treatment, y)")
            self.fitted = True  # checks the column count against the training data
            try:
                v_x, v_t, v_y = self._check(*validation)
            finally:
                self.fitted = False
            validation = (self._scale(v_x), v_t, v_y)
        self.history = type(self.history)()
        self._fit(self._scale(X), treatment, y, validation)
        self.fitted = True
        return self

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.std).astype(np.float32)

    def predict_uplift(self, X) -> np.ndarray:
        """Estimated P(y | treated) - P(y | control) per row."""
        self._require_fitted()
        X, _, _ = self._check(X)
        treated, control = self._arm_probabilities(self._scale(X))
        return treated - control

    def predict_arms(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(P(y | treated), P(y | control)) per row."""
        self._require_fitted()
        X, _, _ = self._check(X)
        return self._arm_probabilities(self._scale(X))

    def _fit(self, X, treatment, y, validation) -> None:
        raise NotImplementedError

    def _arm_probabilities(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _validation_qini(self, validation) -> dict[str, float]:
        from ml.metrics.uplift import qini_coefficient

        if validation is None:
            return {}
        X, treatment, y = validation
        treated, control = self._arm_probabilities(X)
        return {"val_qini": qini_coefficient(y, treatment, treated - control)}

    def _scaling_state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "std": self.std}


@register
class TLearner(UpliftModel):
    """Two L2 logistic regressions, one per arm; uplift is the difference of their predictions.

    ``interactions`` adds pairwise products of the (standardised) features, so each arm's
    model can bend with feature combinations; ``l2`` is shared by both arms.
    """

    name = "t_learner"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"l2": 1e-3, "interactions": False, "max_iter": 300}

    def _expand(self, X: np.ndarray) -> np.ndarray:
        if not self.params["interactions"]:
            return X
        rows, cols = np.triu_indices(X.shape[1], k=1)
        return np.hstack([X, X[:, rows] * X[:, cols]])

    def _fit(self, X, treatment, y, validation) -> None:
        design = self._expand(X)
        self.coef = {}
        for arm, rows in (("treated", treatment), ("control", ~treatment)):
            self.coef[arm] = fit_logistic(
                design[rows], y[rows], self.params["l2"], max_iter=self.params["max_iter"]
            )
        self.history.log(**self._validation_qini(validation))

    def _arm_probabilities(self, X):
        design = self._expand(X)
        return tuple(
            sigmoid(design @ self.coef[arm][0] + self.coef[arm][1])
            for arm in ("treated", "control")
        )

    def _get_state(self):
        arrays = {**self._scaling_state(), **{f"{arm}_w": w for arm, (w, _) in self.coef.items()}}
        return {"bias": {arm: b for arm, (_, b) in self.coef.items()}}, arrays

    def _set_state(self, meta, arrays):
        self.mean, self.std = arrays["mean"], arrays["std"]
        self.coef = {
            arm: (arrays[f"{arm}_w"], float(meta["bias"][arm])) for arm in ("treated", "control")
        }


@register
class TwoHeadUplift(UpliftModel):
    """A shared ReLU trunk with a treated head and a control head (TARNet-style).

    Each person's loss is the cross-entropy of the head of the arm they were in, so the trunk
    learns a representation useful to both arms and the heads differ only where the treatment
    changes behaviour. Adam, L2 on weights; early stopping on validation Qini.
    """

    name = "two_head_uplift"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            "hidden": [32, 16],
            "l2": 1e-4,
            "learning_rate": 3e-3,
            "epochs": 20,
            "batch_size": 256,
            "patience": 3,
            "seed": 0,
        }

    def _fit(self, X, treatment, y, validation) -> None:
        import keras
        from keras import ops

        p = self.params
        seed_tensorflow(p["seed"])
        regularizer = keras.regularizers.L2(p["l2"]) if p["l2"] > 0 else None
        inputs = keras.Input(shape=(X.shape[1],))
        h = inputs
        for units in p["hidden"]:
            h = keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer)(h)
        logits = keras.layers.Dense(2, kernel_regularizer=regularizer)(h)  # [treated, control]
        net = keras.Model(inputs, logits)

        def observed_arm_loss(target, output):
            outcome, treated = target[:, 0], target[:, 1]
            logit = treated * output[:, 0] + (1 - treated) * output[:, 1]
            return ops.mean(ops.binary_crossentropy(outcome, logit, from_logits=True))

        net.compile(optimizer=keras.optimizers.Adam(p["learning_rate"]), loss=observed_arm_loss)
        model = self
        best = {"qini": -np.inf, "layers": None, "waited": 0}

        class RecordAndStopOnQini(keras.callbacks.Callback):
            """Log each epoch; with validation, keep the epoch of best Qini and stop after
            ``patience`` epochs without improvement (Qini, not loss, is what targeting needs)."""

            def on_epoch_end(self, epoch, logs=None):
                model._export(net)
                entry = {"loss": logs["loss"], **model._validation_qini(validation)}
                if "val_loss" in logs:
                    entry["val_loss"] = logs["val_loss"]
                model.history.log(**entry)
                if validation is None:
                    return
                if entry["val_qini"] > best["qini"]:
                    best.update(qini=entry["val_qini"], layers=model.layers, waited=0)
                else:
                    best["waited"] += 1
                    if best["waited"] >= p["patience"]:
                        net.stop_training = True

        target = np.stack([y, treatment.astype(np.float64)], axis=1).astype(np.float32)
        val_data = None
        if validation is not None:
            v_x, v_t, v_y = validation
            val_data = (v_x, np.stack([v_y, v_t.astype(np.float64)], axis=1).astype(np.float32))
        net.fit(
            X,
            target,
            batch_size=p["batch_size"],
            epochs=p["epochs"],
            validation_data=val_data,
            callbacks=[RecordAndStopOnQini()],
            shuffle=True,
            verbose=0,
        )
        if best["layers"] is not None:
            self.layers = best["layers"]

    def _export(self, net) -> None:
        dense = [layer for layer in net.layers if hasattr(layer, "kernel")]
        self.layers = [(layer.kernel.numpy(), layer.bias.numpy()) for layer in dense]

    def _arm_probabilities(self, X):
        h = X
        for w, b in self.layers[:-1]:
            h = np.maximum(h @ w + b, 0.0)
        w, b = self.layers[-1]
        logits = h @ w + b
        return sigmoid(logits[:, 0]), sigmoid(logits[:, 1])

    def _get_state(self):
        arrays = self._scaling_state()
        for i, (w, b) in enumerate(self.layers):
            arrays[f"layer{i}_w"], arrays[f"layer{i}_b"] = w, b
        return {"n_layers": len(self.layers)}, arrays

    def _set_state(self, meta, arrays):
        self.mean, self.std = arrays["mean"], arrays["std"]
        self.layers = [
            (arrays[f"layer{i}_w"], arrays[f"layer{i}_b"]) for i in range(meta["n_layers"])
        ]


@dataclass(frozen=True)
class Allocation:
    """Chosen offer per person (-1 = none), money spent and expected incremental value."""

    offer: np.ndarray
    total_cost: float
    expected_value: float


def allocate_budget(
    uplift, cost, budget: float, value=1.0, require_profit: bool = False
) -> Allocation:
    """Give each person at most one offer so the total cost stays within ``budget``.

    ``uplift`` is [people] (one offer) or [people, offers]; ``cost`` and ``value`` (worth of
    one incremental response) are scalars, per offer [offers] or per person and offer. The
    expected incremental value of a (person, offer) pair is uplift * value. This is a
    multiple-choice knapsack; we solve it greedily: pairs with positive value (more than their
    cost if ``require_profit``) are taken in decreasing value-per-cost order whenever the person
    has no offer yet and the offer still fits the remaining budget. With one offer and equal
    costs this is optimal; otherwise it is a fast heuristic (n log n), not a guaranteed optimum.
    """
    uplift = np.asarray(uplift, dtype=np.float64)
    if uplift.ndim == 1:
        uplift = uplift[:, None]
    if uplift.ndim != 2 or uplift.size == 0:
        raise ValueError("uplift must be [people] or [people, offers] and non-empty")
    if not np.isfinite(uplift).all():
        raise ValueError("uplift contains NaN or infinite values")
    try:
        cost = np.broadcast_to(np.asarray(cost, dtype=np.float64), uplift.shape)
        value = np.broadcast_to(np.asarray(value, dtype=np.float64), uplift.shape)
    except ValueError:
        raise ValueError(
            f"cost and value must broadcast to the uplift shape {uplift.shape}"
        ) from None
    if (cost < 0).any() or not np.isfinite(cost).all():
        raise ValueError("costs must be finite and non-negative")
    if not np.isfinite(budget) or budget < 0:
        raise ValueError("budget must be a finite non-negative number")
    gain = uplift * value
    eligible = gain > (cost if require_profit else 0.0)
    people, offers = np.nonzero(eligible)
    ratio = np.where(
        cost[people, offers] > 0,
        gain[people, offers] / np.maximum(cost[people, offers], 1e-300),
        np.inf,
    )
    order = np.lexsort((-gain[people, offers], -ratio))  # best ratio first, then larger gain
    chosen = np.full(uplift.shape[0], -1, dtype=np.int64)
    remaining = float(budget)
    total_value = 0.0
    for person, offer in zip(people[order], offers[order], strict=True):
        price = cost[person, offer]
        if chosen[person] < 0 and price <= remaining:
            chosen[person] = offer
            remaining -= price
            total_value += gain[person, offer]
    return Allocation(chosen, float(budget) - remaining, total_value)
