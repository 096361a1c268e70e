"""NeuMF (He et al., 2017): a GMF branch and an MLP branch joined under one sigmoid output.

The MLP branch is the seed project's model: concatenated user and item embeddings -> Dense 64
ReLU -> Dense 32 ReLU; the GMF branch is the element-wise product of its own embeddings. Trained
with Adam on binary cross-entropy, with ``negatives`` unseen items sampled per positive and
redrawn every epoch. Weights are exported as arrays and scored with numpy, item by item in
chunks, so the API server never loads TensorFlow. With a ``validation`` matrix, the epoch with
the best validation NDCG@10 is the one kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.base import Recommender, register
from ml.models.bpr import sample_triples
from ml.models.common import BestEpoch, item_popularity, require_positive, seed_tensorflow

CHUNK_USERS = 64


def relu(values: np.ndarray) -> np.ndarray:
    return np.maximum(values, 0.0)


@register
class NeuMF(Recommender):
    name = "neumf"
    WEIGHT_NAMES = (
        "gmf_user", "gmf_item", "mlp_user", "mlp_item",
        "dense64_kernel", "dense64_bias", "dense32_kernel", "dense32_bias",
        "output_kernel", "output_bias",
    )  # fmt: skip

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            "gmf_dim": 16,
            "mlp_dim": 32,
            "negatives": 4,
            "epochs": 10,
            "batch_size": 1024,
            "learning_rate": 0.001,
            "seed": 42,
        }

    def _build(self):
        import keras

        seed = self.params["seed"]
        users = keras.Input(shape=(), dtype="int32", name="user")
        items = keras.Input(shape=(), dtype="int32", name="item")

        def embedding(count, dim, name, offset):
            init = keras.initializers.RandomNormal(stddev=0.05, seed=seed + offset)
            return keras.layers.Embedding(count, dim, embeddings_initializer=init, name=name)

        gmf = keras.layers.Multiply()(
            [
                embedding(self.n_users, self.params["gmf_dim"], "gmf_user", 0)(users),
                embedding(self.n_items, self.params["gmf_dim"], "gmf_item", 1)(items),
            ]
        )
        mlp = keras.layers.Concatenate()(
            [
                embedding(self.n_users, self.params["mlp_dim"], "mlp_user", 2)(users),
                embedding(self.n_items, self.params["mlp_dim"], "mlp_item", 3)(items),
            ]
        )
        mlp = keras.layers.Dense(64, activation="relu", name="dense64")(mlp)
        mlp = keras.layers.Dense(32, activation="relu", name="dense32")(mlp)
        joined = keras.layers.Concatenate()([gmf, mlp])
        output = keras.layers.Dense(1, activation="sigmoid", name="output")(joined)
        model = keras.Model([users, items], output)
        model.compile(
            optimizer=keras.optimizers.Adam(self.params["learning_rate"]),
            loss="binary_crossentropy",
        )
        return model

    def _fit(self, matrix, user_features, item_features, validation) -> None:
        require_positive(self.params, "epochs", "batch_size", "learning_rate")
        seed_tensorflow(self.params["seed"])
        rng = np.random.default_rng(self.params["seed"])
        self.popularity_ = item_popularity(matrix)
        model = self._build()
        negatives = int(self.params["negatives"])
        if negatives < 1:
            raise ValueError("negatives must be at least 1")
        coo = matrix.tocoo()
        best_epoch = BestEpoch(self)
        for _ in range(int(self.params["epochs"])):
            users, _, sampled = sample_triples(matrix, rng, coo.nnz * negatives)
            all_users = np.concatenate([coo.row, users]).astype(np.int32)
            all_items = np.concatenate([coo.col, sampled]).astype(np.int32)
            labels = np.concatenate([np.ones(coo.nnz), np.zeros(len(users))]).astype(np.float32)
            order = rng.permutation(len(labels))
            result = model.fit(
                [all_users[order], all_items[order]],
                labels[order],
                batch_size=int(self.params["batch_size"]),
                epochs=1,
                verbose=0,
                shuffle=False,
            )
            self._export(model)
            best_epoch.log({"loss": float(result.history["loss"][-1])}, matrix, validation)
        best_epoch.restore()

    def _export(self, model) -> None:
        arrays = {}
        for layer in ("gmf_user", "gmf_item", "mlp_user", "mlp_item"):
            arrays[layer] = np.asarray(model.get_layer(layer).get_weights()[0], np.float32)
        for layer in ("dense64", "dense32", "output"):
            kernel, bias = model.get_layer(layer).get_weights()
            arrays[f"{layer}_kernel"], arrays[f"{layer}_bias"] = kernel, bias
        self.weights_ = arrays

    def _score(self, users, user_items) -> np.ndarray:
        """Numpy forward pass; unseen users get popularity (NeuMF has no way to fold them in)."""
        w = self.weights_
        mlp_dim = w["mlp_user"].shape[1]
        # The first dense layer splits into a user half and an item half: precompute the items'.
        item_part = w["mlp_item"] @ w["dense64_kernel"][mlp_dim:] + w["dense64_bias"]
        gmf_out, mlp_out = np.split(w["output_kernel"][:, 0], [w["gmf_user"].shape[1]])
        scores = np.tile(self.popularity_, (len(users), 1)).astype(np.float32)
        known = np.flatnonzero(users >= 0)
        for start in range(0, len(known), CHUNK_USERS):
            rows = known[start : start + CHUNK_USERS]
            ids = users[rows]
            hidden = relu(
                (w["mlp_user"][ids] @ w["dense64_kernel"][:mlp_dim])[:, None, :] + item_part
            )
            hidden = relu(hidden @ w["dense32_kernel"] + w["dense32_bias"])
            logit = hidden @ mlp_out + (w["gmf_user"][ids] * gmf_out) @ w["gmf_item"].T
            # Logits, not probabilities: same order, and no ties where the sigmoid saturates.
            scores[rows] = logit + w["output_bias"][0]
        return scores

    def item_embeddings(self) -> np.ndarray:
        return np.hstack([self.weights_["gmf_item"], self.weights_["mlp_item"]])

    def _get_state(self):
        return {}, dict(self.weights_, popularity=self.popularity_)

    def _set_state(self, meta, arrays) -> None:
        self.weights_ = {name: arrays[name] for name in self.WEIGHT_NAMES}
        self.popularity_ = arrays["popularity"]
        self.n_users = len(self.weights_["gmf_user"])
        self.n_items = len(self.weights_["gmf_item"])
