"""A weighted blend of other recommenders' per-user standardised scores.

Members disagree in scale (EASE weights, walk probabilities, cosine scores), so each member's
scores are standardised per user (zero mean, unit spread over the catalog) before the weighted
sum. When ``validation`` is given and ``tune_weights`` is on, the weights are chosen by coordinate
ascent on validation NDCG@10, one member at a time, over ``WEIGHT_STEPS``; the rounds are the
history. The ascent starts from the better of the given weights and the best member alone: from
equal weights it can stall below a member that dominates the others (ALS on MovieLens), so the
tuned blend is never worse on validation than any single member. Similar items blend the
members' item similarities the same way. Saved as each member's own arrays under a ``m<index>.``
prefix: still no pickle.

A member is ``[name, params]`` or ``[name, params, "binary"]``: the latter sees the interaction
values as 1.0, so weight-sensitive models (EASE) can sit beside one whose values mean something
else (``seqknn`` reads them as event times).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.base import MODEL_REGISTRY, Recommender, register
from ml.history import TrainingHistory
from ml.models.common import validation_ndcg

WEIGHT_STEPS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
MAX_ROUNDS = 4


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per-row z-scores, so every member votes on the same scale."""
    scores = np.asarray(scores, dtype=np.float32)
    spread = scores.std(axis=1, keepdims=True)
    return (scores - scores.mean(axis=1, keepdims=True)) / np.maximum(spread, 1e-12)


def as_input(matrix: sp.csr_matrix, binary: bool) -> sp.csr_matrix:
    """The matrix a member sees: as given, or with every stored value set to 1."""
    if not binary:
        return matrix
    ones = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    ones.data[:] = 1.0
    return ones


@register
class Ensemble(Recommender):
    name = "ensemble"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            "members": [["ease", {}], ["rp3beta", {}], ["itemknn", {}]],
            "weights": None,
            "tune_weights": True,
        }

    def _build_members(self) -> list[Recommender]:
        members = self.params["members"]
        if not members:
            raise ValueError("an ensemble needs at least one member")
        built = []
        for entry in members:
            valid_input = len(entry) == 2 or (len(entry) == 3 and entry[2] == "binary")
            if not valid_input or entry[0] not in MODEL_REGISTRY:
                raise ValueError(
                    f"ensemble member {entry!r} must be [registered name, params(, 'binary')]"
                )
            model = MODEL_REGISTRY[entry[0]](**entry[1])
            if not isinstance(model, Recommender) or isinstance(model, Ensemble):
                raise ValueError(f"ensemble member {entry[0]!r} must be a top-N recommender")
            built.append(model)
        weights = self.params["weights"]
        if weights is not None and len(weights) != len(built):
            raise ValueError("weights must hold one number per member")
        return built

    def _fit(self, matrix, user_features, item_features, validation) -> None:
        self.members = self._build_members()
        weights = self.params["weights"] or [1.0] * len(self.members)
        self.weights_ = np.asarray(weights, dtype=np.float32)
        self.binary_inputs = [len(entry) == 3 for entry in self.params["members"]]
        for member, binary in zip(self.members, self.binary_inputs, strict=True):
            member.fit(as_input(matrix, binary), user_features, item_features, validation)
        if validation is None:
            return
        users = np.flatnonzero(np.diff(validation.indptr) > 0)
        parts = [
            standardise(self._member_scores(index, users, matrix[users]))
            for index in range(len(self.members))
        ]

        def blend_score(weights: np.ndarray) -> float:
            blended = sum(w * part for w, part in zip(weights, parts, strict=True))
            return validation_ndcg(
                lambda batch: blended[np.searchsorted(users, batch)], matrix, validation
            )

        best = blend_score(self.weights_)
        if not self.params["tune_weights"]:
            self.history.log(**{"val_ndcg@10": best})
            return
        for alone in np.eye(len(self.members), dtype=np.float32):
            score = blend_score(alone)
            if score > best + 1e-6:
                best, self.weights_ = score, alone
        self.history.log(**{"val_ndcg@10": best})
        for _ in range(MAX_ROUNDS):
            improved = False
            for index in range(len(self.members)):
                for step in WEIGHT_STEPS:
                    trial = self.weights_.copy()
                    trial[index] = step
                    if not trial.any() or step == self.weights_[index]:
                        continue
                    score = blend_score(trial)
                    if score > best + 1e-6:
                        best, self.weights_, improved = score, trial, True
            self.history.log(**{"val_ndcg@10": best})
            if not improved:
                break

    def _member_scores(self, index: int, users: np.ndarray, user_items) -> np.ndarray:
        rows = as_input(user_items, self.binary_inputs[index])
        return self.members[index]._score(users, rows)

    def _score(self, users, user_items) -> np.ndarray:
        total = np.zeros((len(users), self.n_items), np.float32)
        for index, weight in enumerate(self.weights_):
            if weight:
                total += weight * standardise(self._member_scores(index, users, user_items))
        return total

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        """The members' standardised item similarities, blended with the scoring weights.

        A member without one (popularity) sits this blend out rather than leaving the ensemble
        with no similar items at all.
        """
        total = np.zeros((len(items), self.n_items), np.float32)
        blended = False
        for member, weight in zip(self.members, self.weights_, strict=True):
            if not weight:
                continue
            try:
                similarity = member._item_similarity(items)
            except NotImplementedError:
                continue
            total += weight * standardise(similarity)
            blended = True
        if not blended:
            raise NotImplementedError(f"no weighted member of this {self.name} has item similarity")
        return total

    def _get_state(self):
        meta = {"n_users": self.n_users, "members": [], "weights": self.weights_.tolist()}
        arrays = {}
        for index, member in enumerate(self.members):
            member_meta, member_arrays = member._get_state()
            meta["members"].append(
                {
                    "name": member.name,
                    "params": member.params,
                    "meta": member_meta,
                    "history": member.history.to_dict(),
                }
            )
            arrays.update({f"m{index}.{key}": value for key, value in member_arrays.items()})
        return meta, arrays

    def _set_state(self, meta, arrays) -> None:
        self.members = []
        for index, saved in enumerate(meta["members"]):
            member = MODEL_REGISTRY[saved["name"]](**saved["params"])
            prefix = f"m{index}."
            member._set_state(
                saved["meta"],
                {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)},
            )
            member.history = TrainingHistory(saved["history"])
            member.fitted = True
            self.members.append(member)
        self.weights_ = np.asarray(meta["weights"], dtype=np.float32)
        self.binary_inputs = [len(entry) == 3 for entry in self.params["members"]]
        self.n_users = int(meta["n_users"])
        self.n_items = self.members[0].n_items
