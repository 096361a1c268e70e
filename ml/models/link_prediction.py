"""Link prediction for social recommendations (people you may know).

Nodes are integer indices 0..n_nodes-1 (the caller maps its own ids, as with ``Recommender``).
The graph is undirected. Heuristics: common neighbours and Adamic-Adar, computed with sparse
matrix products. Learned: node embeddings (a factorization of the adjacency trained with
binary cross-entropy against sampled non-edges, in TensorFlow; served with numpy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.base import Model, register, top_n
from ml.models.common import seed_tensorflow


def adjacency_from_edges(edges, n_nodes: int | None = None) -> sp.csr_matrix:
    """Symmetric 0/1 adjacency without self-loops from an [m, 2] array of node indices."""
    edges = np.asarray(edges)
    if edges.ndim != 2 or edges.shape[1] != 2 or edges.shape[0] == 0:
        raise ValueError("edges must be a non-empty [m, 2] array of node indices")
    if edges.dtype.kind not in "iu":
        raise ValueError("edges must hold integer node indices")
    edges = edges.astype(np.int64)
    if edges.min() < 0:
        raise ValueError("node indices must be non-negative")
    n = int(edges.max()) + 1 if n_nodes is None else int(n_nodes)
    if edges.max() >= n:
        raise ValueError(f"node index {int(edges.max())} is out of range for n_nodes={n}")
    edges = edges[edges[:, 0] != edges[:, 1]]
    if edges.shape[0] == 0:
        raise ValueError("edges holds only self-loops")
    rows = np.r_[edges[:, 0], edges[:, 1]]
    cols = np.r_[edges[:, 1], edges[:, 0]]
    matrix = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(n, n))
    matrix.data[:] = 1.0  # duplicates were summed; keep the graph unweighted
    return matrix


class LinkPredictor(Model):
    """Validation, the stored graph, pair scoring and friend recommendation."""

    family = "link_prediction"

    def fit(self, edges, n_nodes: int | None = None, validation=None) -> LinkPredictor:
        """Fit on undirected ``edges`` [m, 2]; ``validation`` = (pairs [p, 2], 0/1 labels) is
        scored (AUC) per epoch."""
        self.fitted = False
        self.adjacency = adjacency_from_edges(edges, n_nodes)
        self.n_nodes = self.adjacency.shape[0]
        if validation is not None:
            if len(validation) != 2:
                raise ValueError("validation must be (pairs, labels)")
            pairs = self._check_pairs(validation[0])
            labels = np.asarray(validation[1], dtype=np.float64).reshape(-1)
            if labels.shape[0] != pairs.shape[0] or not np.isin(labels, (0, 1)).all():
                raise ValueError("validation labels must be 0/1, one per pair")
            validation = (pairs, labels)
        self.history = type(self.history)()
        self._fit(validation)
        self.fitted = True
        return self

    def _check_pairs(self, pairs) -> np.ndarray:
        pairs = np.asarray(pairs)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError("pairs must be a [p, 2] array of node indices")
        if pairs.size and pairs.dtype.kind not in "iu":
            raise ValueError("pairs must hold integer node indices")
        pairs = pairs.astype(np.int64)
        if pairs.size and (pairs.min() < 0 or pairs.max() >= self.n_nodes):
            raise ValueError(f"node indices must be in [0, {self.n_nodes})")
        return pairs

    def score(self, pairs) -> np.ndarray:
        """Score per (u, v) pair; higher = more likely linked."""
        self._require_fitted()
        pairs = self._check_pairs(pairs)
        return self._score_pairs(pairs[:, 0], pairs[:, 1]).astype(np.float32)

    def recommend(self, nodes, n: int = 10, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` new neighbours per node, best first; the node itself, its current
        neighbours and the per-node ``exclude`` lists are never returned (padding: -1)."""
        self._require_fitted()
        nodes = np.asarray(nodes).reshape(-1)
        if nodes.size and nodes.dtype.kind not in "iu":
            raise ValueError("nodes must be integer node indices")
        nodes = nodes.astype(np.int64)
        if ((nodes < 0) | (nodes >= self.n_nodes)).any():
            raise ValueError(f"node indices must be in [0, {self.n_nodes})")
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError("n must be a positive integer")
        if exclude is not None and len(exclude) != len(nodes):
            raise ValueError("exclude must hold one list of node indices per node")
        scores = np.asarray(self._score_rows(nodes), dtype=np.float32).copy()
        rows, cols = self.adjacency[nodes].nonzero()
        scores[rows, cols] = -np.inf
        scores[np.arange(len(nodes)), nodes] = -np.inf
        for row, excluded in enumerate(exclude or []):
            excluded = np.asarray(excluded, dtype=np.int64)
            if ((excluded < 0) | (excluded >= self.n_nodes)).any():
                raise ValueError(f"exclude[{row}] holds node indices out of range")
            scores[row, excluded] = -np.inf
        return top_n(scores, n)

    def _log_validation(self, validation, **entry: float) -> None:
        from ml.metrics.classification import roc_auc

        if validation is not None and 0 < validation[1].sum() < len(validation[1]):
            pairs, labels = validation
            entry["val_auc"] = roc_auc(labels, self._score_pairs(pairs[:, 0], pairs[:, 1]))
        self.history.log(**entry)

    def _graph_state(self) -> dict[str, np.ndarray]:
        return {"adj_indptr": self.adjacency.indptr, "adj_indices": self.adjacency.indices}

    def _set_graph_state(self, arrays) -> None:
        indices, indptr = arrays["adj_indices"], arrays["adj_indptr"]
        self.n_nodes = len(indptr) - 1
        data = np.ones(len(indices), dtype=np.float32)
        self.adjacency = sp.csr_matrix((data, indices, indptr), shape=(self.n_nodes, self.n_nodes))

    def _get_state(self):
        return {}, self._graph_state()

    def _set_state(self, meta, arrays):
        self._set_graph_state(arrays)
        self._prepare()

    def _prepare(self) -> None:
        """Derive serving structures from the stored state (after fit or load)."""

    def _fit(self, validation) -> None:
        self._prepare()
        self._log_validation(validation)

    def _score_pairs(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _score_rows(self, nodes: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register
class CommonNeighbours(LinkPredictor):
    """Number of shared friends."""

    name = "common_neighbours"

    def _prepare(self) -> None:
        self._weighted = self.adjacency

    def _score_pairs(self, u, v):
        return np.asarray(self._weighted[u].multiply(self.adjacency[v]).sum(axis=1)).ravel()

    def _score_rows(self, nodes):
        return (self._weighted[nodes] @ self.adjacency).toarray()


@register
class AdamicAdar(CommonNeighbours):
    """Shared friends weighted by 1 / log(degree): a friend of few people says more."""

    name = "adamic_adar"

    def _prepare(self) -> None:
        degree = np.asarray(self.adjacency.sum(axis=0)).ravel()
        # a common neighbour has degree >= 2, so log(degree) > 0 wherever the weight is used
        weight = np.where(degree > 1, 1.0 / np.log(np.maximum(degree, 2)), 0.0)
        self._weighted = sp.csr_matrix(self.adjacency @ sp.diags(weight.astype(np.float32)))


@register
class NodeEmbedding(LinkPredictor):
    """Node vectors and biases trained so that sigmoid(e_u . e_v + b_u + b_v) is high for edges
    and low for ``negatives`` uniformly sampled node pairs per edge (logistic matrix
    factorization of the adjacency). The score is the logit."""

    name = "node_embedding"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            "dim": 64,
            "negatives": 5,
            "epochs": 20,
            "batch_size": 1024,
            "learning_rate": 0.01,
            "l2": 1e-4,
            "seed": 0,
        }

    def _fit(self, validation) -> None:
        import keras
        import tensorflow as tf

        p = self.params
        seed_tensorflow(p["seed"])
        rng = np.random.default_rng(p["seed"])
        n = self.n_nodes
        vectors = keras.Variable(rng.normal(0, 0.1, size=(n, p["dim"])).astype(np.float32))
        biases = keras.Variable(np.zeros(n, dtype=np.float32))
        optimizer = keras.optimizers.Adam(p["learning_rate"])
        coo = self.adjacency.tocoo()
        sources, targets = coo.row.astype(np.int32), coo.col.astype(np.int32)  # both directions

        @tf.function
        def train_step(u, v, label):
            with tf.GradientTape() as tape:
                eu, ev = tf.gather(vectors, u), tf.gather(vectors, v)
                logit = tf.reduce_sum(eu * ev, axis=1) + tf.gather(biases, u) + tf.gather(biases, v)
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(label, logit))
                loss += p["l2"] * tf.reduce_mean(tf.reduce_sum(eu * eu + ev * ev, axis=1))
            variables = [vectors, biases]
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            return loss

        k = p["negatives"]
        for _ in range(p["epochs"]):
            order = rng.permutation(sources.size)
            losses = []
            for start in range(0, order.size, p["batch_size"]):
                batch = order[start : start + p["batch_size"]]
                u = np.repeat(sources[batch], k + 1)
                v = np.concatenate(
                    [targets[batch, None], rng.integers(0, n, (batch.size, k))], axis=1
                )
                label = np.tile(np.r_[1.0, np.zeros(k)], batch.size).astype(np.float32)
                losses.append(float(train_step(u, v.ravel().astype(np.int32), label)))
            self.vectors, self.biases = vectors.numpy(), biases.numpy()
            self._log_validation(validation, loss=float(np.mean(losses)))

    def _score_pairs(self, u, v):
        return np.sum(self.vectors[u] * self.vectors[v], axis=1) + self.biases[u] + self.biases[v]

    def _score_rows(self, nodes):
        return (
            self.vectors[nodes] @ self.vectors.T + self.biases[nodes, None] + self.biases[None, :]
        )

    def node_vectors(self) -> np.ndarray:
        """The learned embeddings [n_nodes, dim] (e.g. for an ANN index or clustering)."""
        self._require_fitted()
        return self.vectors

    def _get_state(self):
        return {}, {**self._graph_state(), "vectors": self.vectors, "biases": self.biases}

    def _set_state(self, meta, arrays):
        self._set_graph_state(arrays)
        self.vectors, self.biases = arrays["vectors"], arrays["biases"]
