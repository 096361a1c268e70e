"""Two-tower retrieval in TensorFlow: in-batch softmax negatives with log-Q correction.

Follows TF Recommenders' shape with plain Keras 3: a user tower (id embedding + optional user
feature projection), an item tower (id embedding + optional item feature projection), and a
``RetrievalTask`` that owns the loss. Every other positive in the batch is a negative; because
popular items appear as negatives more often, their logits are lowered by ``log q(item)`` (the
item's sampling probability, Yi et al. 2019) so the model does not learn to bury them.

The serving artifact is numpy only: user and item embeddings plus the item feature projection, so
``embed_items(features)`` places new items (no id embedding yet) from their features alone.
With a ``validation`` matrix, the epoch with the best validation NDCG@10 is the one kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.base import Recommender, register
from ml.models.common import (
    BestEpoch,
    FactorState,
    factor_scores,
    item_popularity,
    require_positive,
    seed_tensorflow,
)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


class RetrievalTask:
    """In-batch sampled softmax over item candidates, with log-Q and accidental-hit masking."""

    def __init__(self, temperature: float, log_q: np.ndarray | None):
        import tensorflow as tf

        self.tf = tf
        self.temperature = temperature
        self.log_q = None if log_q is None else tf.constant(log_q, tf.float32)

    def __call__(self, user_vectors, item_vectors, item_ids):
        tf = self.tf
        logits = tf.matmul(user_vectors, item_vectors, transpose_b=True) / self.temperature
        if self.log_q is not None:
            logits -= tf.gather(self.log_q, item_ids)[None, :]
        same_item = tf.equal(item_ids[:, None], item_ids[None, :])
        accidental = tf.logical_and(same_item, tf.logical_not(tf.eye(tf.shape(item_ids)[0]) > 0))
        logits = tf.where(accidental, tf.fill(tf.shape(logits), -1e9), logits)
        labels = tf.range(tf.shape(item_ids)[0])
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        )


@register
class TwoTower(FactorState, Recommender):
    name = "two_tower"
    state_arrays = ("user_vectors", "item_vectors", "item_kernel")

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            "dim": 64,
            "epochs": 20,
            "batch_size": 512,
            "learning_rate": 0.005,
            "temperature": 0.1,
            "log_q": True,
            "seed": 42,
        }

    def _fit(self, matrix, user_features, item_features, validation) -> None:
        require_positive(self.params, "epochs", "batch_size", "learning_rate")
        import keras
        import tensorflow as tf

        seed_tensorflow(self.params["seed"])
        rng = np.random.default_rng(self.params["seed"])
        dim = int(self.params["dim"])
        self.popularity_ = item_popularity(matrix)
        user_x = np.zeros((self.n_users, 0), np.float32) if user_features is None else user_features
        item_x = np.zeros((self.n_items, 0), np.float32) if item_features is None else item_features
        init = keras.initializers.RandomNormal(stddev=0.1, seed=self.params["seed"])
        user_id = keras.layers.Embedding(self.n_users, dim, embeddings_initializer=init)
        item_id = keras.layers.Embedding(self.n_items, dim, embeddings_initializer=init)
        # No bias: a vector shared by every item would, after normalisation, pull all items
        # towards one direction (Adam moves it every step, while each id row moves rarely).
        user_proj = keras.layers.Dense(
            dim, use_bias=False, kernel_initializer=keras.initializers.GlorotUniform(1)
        )
        item_proj = keras.layers.Dense(
            dim, use_bias=False, kernel_initializer=keras.initializers.GlorotUniform(2)
        )
        user_id.build((None,))
        item_id.build((None,))
        user_proj.build((None, user_x.shape[1]))
        item_proj.build((None, item_x.shape[1]))
        layers = (user_id, item_id, user_proj, item_proj)
        variables = [v for layer in layers for v in layer.trainable_variables]
        user_table, item_table = tf.constant(user_x), tf.constant(item_x)

        def user_tower(users):
            return tf.math.l2_normalize(
                user_id(users) + user_proj(tf.gather(user_table, users)), -1
            )

        def item_tower(items):
            return tf.math.l2_normalize(
                item_id(items) + item_proj(tf.gather(item_table, items)), -1
            )

        counts = np.diff(matrix.tocsc().indptr).astype(np.float64)
        log_q = np.log(np.maximum(counts, 1.0) / matrix.nnz) if self.params["log_q"] else None
        task = RetrievalTask(float(self.params["temperature"]), log_q)
        optimizer = keras.optimizers.Adam(learning_rate=self.params["learning_rate"])

        @tf.function(reduce_retracing=True)
        def train_step(users, items):
            with tf.GradientTape() as tape:
                loss = task(user_tower(users), item_tower(items), items)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            return loss

        coo = matrix.tocoo()
        pairs_u, pairs_i = coo.row.astype(np.int64), coo.col.astype(np.int64)
        # Only whole batches train (each is one softmax): cap the size so a small log fills one.
        batch = min(int(self.params["batch_size"]), len(pairs_u))
        best_epoch = BestEpoch(self)
        for _ in range(int(self.params["epochs"])):
            order = rng.permutation(len(pairs_u))
            losses = [
                float(train_step(pairs_u[order[s : s + batch]], pairs_i[order[s : s + batch]]))
                for s in range(0, len(order) - batch + 1, batch)
            ]
            self._export(layers, user_x, item_x)
            best_epoch.log({"loss": float(np.mean(losses))}, matrix, validation)
        best_epoch.restore()

    def _export(self, layers, user_x: np.ndarray, item_x: np.ndarray) -> None:
        """Copy the towers into numpy: the serving artifact."""
        user_id, item_id, user_proj, item_proj = (
            [np.asarray(w) for w in layer.get_weights()] for layer in layers
        )
        self.item_kernel = item_proj[0]
        self.user_vectors = l2_normalise(user_id[0] + user_x @ user_proj[0])
        self.item_vectors = l2_normalise(item_id[0] + item_x @ self.item_kernel)

    def embed_items(self, item_features: np.ndarray) -> np.ndarray:
        """Vectors for items without an id embedding (new items), from their features alone."""
        self._require_fitted()
        item_features = np.asarray(item_features, dtype=np.float32)
        if item_features.ndim != 2 or item_features.shape[1] != self.item_kernel.shape[0]:
            raise ValueError(
                f"item_features must be [n_new_items, {self.item_kernel.shape[0]}] as at fit time"
            )
        return l2_normalise(item_features @ self.item_kernel)

    def _score(self, users, user_items) -> np.ndarray:
        return factor_scores(
            users,
            user_items,
            self.user_vectors,
            self.item_vectors,
            self.popularity_,
            # Fold in a new user as the mean of the items they interacted with.
            lambda rows: l2_normalise(np.asarray(rows @ self.item_vectors)),
        )

    def item_embeddings(self) -> np.ndarray:
        return self.item_vectors
