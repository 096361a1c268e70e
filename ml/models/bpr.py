"""Matrix factorisation trained with the BPR pairwise loss in TensorFlow (Rendle et al., 2009).

Each step samples (user, seen item, unseen item) triples and pushes the seen item's score above
the unseen one's: ``-log sigmoid(s_ui - s_uj)``. Training uses Keras 3 embeddings in a custom
loop; the fitted model keeps only numpy factors, so serving never imports TensorFlow. With a
``validation`` matrix, the epoch with the best validation NDCG@10 is the one kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.base import Recommender, register
from ml.models.common import (
    BestEpoch,
    FactorState,
    factor_scores,
    fold_in_least_squares,
    item_popularity,
    require_positive,
    seed_tensorflow,
)


def sample_triples(
    matrix, rng: np.random.Generator, n_samples: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform (user, positive, negative) triples; negatives resampled until unseen (3 tries)."""
    coo = matrix.tocoo()
    picks = rng.integers(0, coo.nnz, n_samples)
    users, positives = coo.row[picks].astype(np.int64), coo.col[picks].astype(np.int64)
    negatives = rng.integers(0, matrix.shape[1], n_samples)
    seen = set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
    for _ in range(3):
        clash = np.fromiter(
            ((u, j) in seen for u, j in zip(users.tolist(), negatives.tolist(), strict=True)),
            dtype=bool,
            count=n_samples,
        )
        if not clash.any():
            break
        negatives[clash] = rng.integers(0, matrix.shape[1], int(clash.sum()))
    return users, positives, negatives


@register
class BPR(FactorState, Recommender):
    name = "bpr"
    state_arrays = ("user_factors", "item_factors", "item_bias")

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            "factors": 64,
            "epochs": 30,
            "batch_size": 1024,
            "learning_rate": 0.01,
            "l2": 1e-4,
            "seed": 42,
        }

    def _fit(self, matrix, user_features, item_features, validation) -> None:
        require_positive(self.params, "epochs", "batch_size", "learning_rate")
        import keras
        import tensorflow as tf

        seed_tensorflow(self.params["seed"])
        self.popularity_ = item_popularity(matrix)
        rng = np.random.default_rng(self.params["seed"])
        factors, l2 = int(self.params["factors"]), float(self.params["l2"])
        init = keras.initializers.RandomNormal(stddev=0.1, seed=self.params["seed"])
        user_emb = keras.layers.Embedding(self.n_users, factors, embeddings_initializer=init)
        item_emb = keras.layers.Embedding(self.n_items, factors, embeddings_initializer=init)
        item_bias = keras.layers.Embedding(self.n_items, 1, embeddings_initializer="zeros")
        for layer in (user_emb, item_emb, item_bias):
            layer.build((None,))
        variables = [user_emb.embeddings, item_emb.embeddings, item_bias.embeddings]
        optimizer = keras.optimizers.Adam(learning_rate=self.params["learning_rate"])

        @tf.function(reduce_retracing=True)
        def train_step(users, positives, negatives):
            with tf.GradientTape() as tape:
                u, p, n = user_emb(users), item_emb(positives), item_emb(negatives)
                margin = tf.reduce_sum(u * (p - n), axis=1)
                margin += tf.squeeze(item_bias(positives) - item_bias(negatives), axis=1)
                loss = tf.reduce_mean(tf.nn.softplus(-margin))
                penalty = l2 * tf.reduce_mean(tf.reduce_sum(u * u + p * p + n * n, axis=1))
                total = loss + penalty
            optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
            return loss

        batch = int(self.params["batch_size"])
        best_epoch = BestEpoch(self)
        for _ in range(int(self.params["epochs"])):
            users, positives, negatives = sample_triples(matrix, rng, matrix.nnz)
            losses = [
                float(
                    train_step(
                        users[s : s + batch], positives[s : s + batch], negatives[s : s + batch]
                    )
                )
                for s in range(0, len(users), batch)
            ]
            self._export(*[np.asarray(v.numpy()) for v in variables])
            best_epoch.log({"loss": float(np.mean(losses))}, matrix, validation)
        best_epoch.restore()

    def _export(self, user_factors, item_factors, item_bias) -> None:
        self.user_factors = user_factors.astype(np.float32)
        self.item_factors = item_factors.astype(np.float32)
        self.item_bias = item_bias.reshape(-1).astype(np.float32)

    def _score(self, users, user_items) -> np.ndarray:
        return factor_scores(
            users,
            user_items,
            self.user_factors,
            self.item_factors,
            self.popularity_,
            lambda rows: fold_in_least_squares(self.item_factors, rows),
            item_bias=self.item_bias,
        )

    def item_embeddings(self) -> np.ndarray:
        return self.item_factors
