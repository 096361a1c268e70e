"""People you may know: link-prediction signals combined by a learned ranker.

Nodes are integer indices 0..n_nodes-1 (the caller maps its own ids). ``edges`` are directed
(``u`` follows ``v``); the neighbourhood signals read the undirected graph (linked either way),
while "already follows" and "follows you" read the directions. For an undirected graph (a
friendship list) pass ``directed=False``: each edge then links both ways.

Candidates of a node are its friends of friends plus its nearest nodes by learned embedding
(:class:`ml.models.link_prediction.NodeEmbedding`, TensorFlow, exported as arrays). Each
candidate pair gets the features in :data:`FEATURES` (common neighbours, Adamic-Adar, resource
allocation, Jaccard, embedding logit, the candidate's degree, "follows you", similarity of the two
purchase histories), and a logistic regression over them ranks the candidates. The regression is
trained the way it is used: a share of the edges is hidden, candidates are generated and
featurised on the rest, and the hidden edges are the positives among them. Everything is sparse
matrix products and vectorised lookups over chunks of nodes, never a Python loop over nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from ml.base import Model, register
from ml.index import DEFAULT_EXACT_THRESHOLD, FaissIndex
from ml.search import Choice, LogUniform

FEATURES = (
    "common_neighbours",  # log(1 + shared neighbours)
    "adamic_adar",
    "resource_allocation",
    "jaccard",
    "embedding",  # node-embedding logit
    "candidate_degree",  # log(1 + the candidate's degree)
    "follows_you",  # the candidate follows the node already
    "same_brands",  # cosine of the two purchase histories (brands bought)
    # Relative to the node's other candidates: what ranks within one node's list.
    "adamic_adar_share",  # Adamic-Adar / the node's best candidate's
    "friends_share",  # shared neighbours / the node's degree
    "embedding_gap",  # embedding logit minus the node's best candidate's
)
PAIR_BUDGET = 2_000_000  # candidate pairs featurised at once (bounds peak memory)
DENSE_BUDGET = 1 << 23  # dense embedding scores computed at once (nodes x all nodes)
# Past this many people the embedding's nearest nodes come from a faiss index: every node
# against every node is quadratic in the graph (hours at a million people).
EXACT_NEIGHBOUR_NODES = DEFAULT_EXACT_THRESHOLD
BRAND_DIMS = 64  # purchase histories wider than this are reduced by a truncated SVD


def directed_matrix(edges: np.ndarray, n: int) -> sp.csr_matrix:
    """0/1 follows matrix (row follows column) without self-loops."""
    edges = edges[edges[:, 0] != edges[:, 1]]
    matrix = sp.csr_matrix(
        (np.ones(len(edges), dtype=np.float32), (edges[:, 0], edges[:, 1])), shape=(n, n)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def pair_keys(rows: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
    return rows.astype(np.int64) * n + cols.astype(np.int64)


def lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``values`` at ``wanted`` keys (0 where absent); ``keys`` sorted ascending."""
    if not len(keys):
        return np.zeros(len(wanted), dtype=np.float32)
    position = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[position] == wanted, values[position], 0).astype(np.float32)


def matrix_keys(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (row * n_cols + col) keys of the non-zeros and their values."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return pair_keys(rows, matrix.indices, matrix.shape[1]), matrix.data


def fit_listwise(
    x: np.ndarray, labels: np.ndarray, groups: np.ndarray, l2: float, max_iter: int = 200
) -> tuple[np.ndarray, list[float]]:
    """Linear weights maximising each group's softmax likelihood of its positives (the
    ranking loss of ListNet / sampled softmax, over every candidate of a node): what orders one
    node's list, unlike a pointwise classifier that also compares nodes with each other.
    ``groups`` are contiguous; returns (weights, loss per iteration)."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    sizes = np.diff(np.r_[starts, len(groups)])
    positives = np.add.reduceat(labels.astype(np.float64), starts)
    # Each node counts once, however many positives it has (as recall@k averages nodes).
    weight = np.where(positives > 0, 1.0 / np.maximum(positives, 1), 0.0) / (positives > 0).sum()
    labels = labels * np.repeat(weight, sizes)
    history: list[float] = []

    def loss_and_grad(w):
        s = x @ w
        peak = np.repeat(np.maximum.reduceat(s, starts), sizes)
        e = np.exp(s - peak)
        norm = np.add.reduceat(e, starts)
        lse = np.log(norm) + peak[starts]
        mass = positives * weight  # 1 / nodes for each node with a positive
        loss = mass @ lse - s @ labels + 0.5 * l2 * w @ w
        coef = np.repeat(mass / norm, sizes) * e - labels
        return loss, x.T @ coef + l2 * w

    result = minimize(
        loss_and_grad,
        np.zeros(x.shape[1]),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter},
        callback=lambda w: history.append(float(loss_and_grad(w)[0])),
    )
    return result.x, history


def brand_vectors(purchases: sp.spmatrix | None, n: int) -> np.ndarray:
    """Unit rows summarising each node's purchases (log counts, reduced when wide)."""
    if purchases is None:
        return np.zeros((n, 1), dtype=np.float32)
    matrix = sp.csr_matrix(purchases, dtype=np.float64)
    if matrix.shape[0] != n:
        raise ValueError(f"purchases has {matrix.shape[0]} rows, expected one per node ({n})")
    matrix.data = np.log1p(np.maximum(matrix.data, 0))
    if matrix.shape[1] > BRAND_DIMS and matrix.nnz:
        from scipy.sparse.linalg import svds

        u, s, _ = svds(matrix, k=BRAND_DIMS, random_state=0)
        dense = u * s
    else:
        dense = matrix.toarray()
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return (dense / np.where(norms > 0, norms, 1.0)).astype(np.float32)


@dataclass
class Suggestions:
    """Top candidates per node, best first (``ids`` -1 and ``scores`` -inf past the end), and
    the features of each, ``features[..., FEATURES.index(name)]`` (raw, unstandardised)."""

    ids: np.ndarray
    scores: np.ndarray
    features: np.ndarray

    def feature(self, name: str) -> np.ndarray:
        return self.features[..., FEATURES.index(name)]


class Graph:
    """The serving-side structures of one follow graph."""

    def __init__(self, follows: sp.csr_matrix):
        self.n = follows.shape[0]
        self.follows = follows
        linked = (follows + follows.T).tocsr()
        linked.data[:] = 1.0
        self.linked = linked
        self.degree = np.asarray(linked.sum(axis=1)).ravel().astype(np.float32)
        # Positive weights, so the three products share one sparsity pattern.
        self.aa_weight = (1.0 / np.log(np.maximum(self.degree, 2))).astype(np.float32)
        self.ra_weight = (1.0 / np.maximum(self.degree, 1)).astype(np.float32)
        self.aa_rows = sp.csr_matrix(sp.diags(self.aa_weight) @ linked)
        self.ra_rows = sp.csr_matrix(sp.diags(self.ra_weight) @ linked)
        self.follow_keys, _ = matrix_keys(follows)

    def followed(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        ones = np.ones(len(self.follow_keys), dtype=np.float32)
        return lookup(self.follow_keys, ones, pair_keys(rows, cols, self.n))


@register
class PeopleRanker(Model):
    """Friends of friends and embedding neighbours, ranked by a logistic regression over
    link-prediction features (see the module docstring)."""

    name = "people_ranker"
    family = "link_prediction"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            "dim": 64,  # embedding
            "epochs": 20,
            "negatives": 5,
            "batch_size": 4096,
            "learning_rate": 0.01,
            "embedding_l2": 1e-4,
            "embedding_candidates": 10,  # nearest nodes by embedding added to friends of friends
            "label_share": 0.1,  # edges hidden to learn the ranker's weights
            "max_label_nodes": 3000,  # nodes whose candidates the ranker learns from
            "min_positives": 30,  # fewer hidden edges among the candidates: Adamic-Adar order
            "l2": 1e-3,  # of the regression
            "interactions": True,  # add pairwise products of the features
            "rerank_depth": 50,  # each node's best candidates by resource allocation, re-ranked
            "features": list(FEATURES),
            "seed": 0,
        }

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        # The ranker's own knobs: each point refits the embedding too, so its dim and epochs
        # (most of the fit's time) are left at their defaults rather than multiplied.
        return {
            "rerank_depth": Choice((30, 50, 100)),
            "l2": LogUniform(1e-4, 1e-1),
            "interactions": Choice((True, False)),
        }

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._neighbour_index: FaissIndex | None = None  # built on first use, per embedding
        unknown = set(self.params["features"]) - set(FEATURES)
        if unknown or not self.params["features"]:
            raise ValueError(f"features must be a non-empty subset of {list(FEATURES)}")
        if not isinstance(self.params["rerank_depth"], int) or self.params["rerank_depth"] < 1:
            raise ValueError("rerank_depth must be a positive integer")
        if not 0 < self.params["label_share"] < 1:
            raise ValueError("label_share must be in (0, 1)")

    # ---- fitting ------------------------------------------------------------------------
    def fit(self, edges, n_nodes: int | None = None, directed: bool = True, purchases=None):
        """Fit on ``edges`` [m, 2] (``directed``: row follows column); ``purchases`` is an
        optional nodes x brands count matrix."""
        edges = self._check_edges(edges, n_nodes)
        n = self.n_nodes
        if not directed:
            edges = np.r_[edges, edges[:, ::-1]]
        rng = np.random.default_rng(self.params["seed"])
        self.brands = brand_vectors(purchases, n)
        # Hide a share of the links as the positives: single follows of a directed graph (so
        # "follows you" can be learned), both directions of an undirected link.
        edge_keys = pair_keys(edges[:, 0], edges[:, 1], n)
        if directed:
            hidden_keys = np.unique(edge_keys[rng.random(len(edges)) < self.params["label_share"]])
        else:
            pairs = np.unique(np.sort(edges, axis=1), axis=0)
            pairs = pairs[rng.random(len(pairs)) < self.params["label_share"]]
            hidden_keys = np.unique(
                np.r_[
                    pair_keys(pairs[:, 0], pairs[:, 1], n), pair_keys(pairs[:, 1], pairs[:, 0], n)
                ]
            )
        is_hidden = np.isin(edge_keys, hidden_keys)
        kept = edges[~is_hidden]
        self._fit_embedding(kept if len(kept) else edges)
        self.history = type(self.history)()
        for loss in self.embedding_loss:
            self.history.log(embedding_loss=loss)
        self.weights = self._learn_weights(edges[is_hidden], kept, hidden_keys, rng)
        self.use_graph(edges, directed=True, purchases=purchases)
        self.fitted = True
        return self

    def _learn_weights(self, positives, kept, hidden_keys, rng) -> np.ndarray:
        """Ranker weights from the hidden ``positives`` among candidates of the ``kept`` graph;
        with too few for that (a tiny graph), Adamic-Adar's order (or the first feature's)."""
        n = self.n_nodes
        nodes = np.unique(positives[:, 0])
        if len(nodes) > self.params["max_label_nodes"]:
            nodes = np.sort(rng.choice(nodes, self.params["max_label_nodes"], replace=False))
        labels = np.zeros(0, dtype=bool)
        if len(kept) and len(nodes):
            rows, cols, features = self._candidates(Graph(directed_matrix(kept, n)), nodes)
            labels = np.isin(pair_keys(rows, cols, n), hidden_keys)
        self.training_summary = {
            "ranker_positives": int(labels.sum()),
            "ranker_candidates": int(len(labels)),
            "candidate_recall": float(labels.sum() / max(len(positives), 1)),
        }
        if labels.all() or labels.sum() < self.params["min_positives"]:
            self.training_summary["ranker"] = "too few hidden follows: Adamic-Adar order"
            self.mean, self.std = self._identity_scaling()
            names = self._design_names()
            return np.eye(len(names))[names.index("adamic_adar") if "adamic_adar" in names else 0]
        # Whole lists of the nodes with a positive (a list without one teaches nothing).
        useful = np.isin(rows, rows[labels])
        weights, losses = fit_listwise(
            self._design(features[useful], fit=True),
            labels[useful].astype(np.float64),
            rows[useful],
            self.params["l2"],
        )
        for loss in losses:
            self.history.log(ranker_loss=loss)
        return weights

    def use_graph(self, edges, directed: bool = True, purchases=None) -> None:
        """Rank on this graph from now on (the whole one, after fitting on a part): the
        learned weights and embeddings stay, the neighbourhoods are this graph's."""
        edges = self._check_edges(edges, self.n_nodes)
        if not directed:
            edges = np.r_[edges, edges[:, ::-1]]
        if purchases is not None:
            self.brands = brand_vectors(purchases, self.n_nodes)
        self.graph = Graph(directed_matrix(edges, self.n_nodes))

    def _design_names(self) -> list[str]:
        names = list(self.params["features"])
        if self.params["interactions"]:
            i, j = np.triu_indices(len(names), k=1)
            names += [f"{names[a]}*{names[b]}" for a, b in zip(i, j, strict=True)]
        return names

    def _identity_scaling(self) -> tuple[np.ndarray, np.ndarray]:
        width = len(self._design_names())
        return np.zeros(width), np.ones(width)

    def _check_edges(self, edges, n_nodes) -> np.ndarray:
        edges = np.asarray(edges)
        if edges.ndim != 2 or edges.shape[1] != 2 or not len(edges):
            raise ValueError("edges must be a non-empty [m, 2] array of node indices")
        if edges.dtype.kind not in "iu" or edges.min() < 0:
            raise ValueError("edges must hold non-negative integer node indices")
        edges = edges.astype(np.int64)
        self.n_nodes = int(edges.max()) + 1 if n_nodes is None else int(n_nodes)
        if edges.max() >= self.n_nodes:
            raise ValueError(f"node index {int(edges.max())} is out of range for {self.n_nodes}")
        edges = edges[edges[:, 0] != edges[:, 1]]
        if not len(edges):
            raise ValueError("edges holds only self-loops")
        return edges

    def _fit_embedding(self, edges: np.ndarray) -> None:
        """Node embeddings (TensorFlow) when a feature or the candidates use them."""
        p = self.params
        self.embedding_loss = []
        if (
            "embedding" not in p["features"]
            and "embedding_gap" not in p["features"]
            and (p["embedding_candidates"] == 0)
        ):
            self.vectors = np.zeros((self.n_nodes, 1), dtype=np.float32)
            self.biases = np.zeros(self.n_nodes, dtype=np.float32)
            return
        from ml.models.link_prediction import NodeEmbedding

        embedding = NodeEmbedding(
            dim=p["dim"],
            epochs=p["epochs"],
            negatives=p["negatives"],
            batch_size=p["batch_size"],
            learning_rate=p["learning_rate"],
            l2=p["embedding_l2"],
            seed=p["seed"],
        ).fit(edges, n_nodes=self.n_nodes)
        self.vectors = embedding.vectors.astype(np.float32)
        self.biases = embedding.biases.astype(np.float32)
        self._neighbour_index = None
        self.embedding_loss = embedding.history.to_dict().get("loss", [])

    def _embedding_neighbours(self, part: np.ndarray, k: int) -> np.ndarray:
        """The k + 1 nodes of highest embedding logit (vector dot product plus the column's
        bias) for each node of ``part``, itself usually among them (dropped later): exact up to
        EXACT_NEIGHBOUR_NODES nodes, else from faiss on [vector, bias] against [vector, 1]."""
        if len(self.vectors) <= EXACT_NEIGHBOUR_NODES:
            logits = self.vectors[part] @ self.vectors.T + self.biases[None, :]
            return np.argpartition(-logits, k, axis=1)[:, : k + 1]
        if self._neighbour_index is None:
            self._neighbour_index = FaissIndex(np.c_[self.vectors, self.biases], "ip", kind="ivf")
        queries = np.c_[self.vectors[part], np.ones(len(part), np.float32)]
        ids, _ = self._neighbour_index.search(queries, k + 1)
        return np.where(ids >= 0, ids, part[:, None])  # too few found: the node itself

    def _design(self, features: np.ndarray, fit: bool = False) -> np.ndarray:
        columns = [FEATURES.index(name) for name in self.params["features"]]
        x = features[:, columns].astype(np.float64)
        if self.params["interactions"]:
            i, j = np.triu_indices(len(columns), k=1)
            x = np.c_[x, x[:, i] * x[:, j]]
        if fit:
            self.mean = x.mean(axis=0)
            self.std = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        return (x - self.mean) / self.std

    # ---- candidates and features ------------------------------------------------------------
    def _chunk_size(self, graph: Graph) -> int:
        # Friends of friends per node: sum of the neighbours' degrees, on average.
        two_hop = float((graph.degree**2).sum()) / max(graph.n, 1) + 1
        return max(1, int(PAIR_BUDGET / (two_hop + self.params["embedding_candidates"])))

    def _candidates(self, graph: Graph, nodes: np.ndarray):
        """(rows, cols, features) of every candidate pair of ``nodes``."""
        step = self._chunk_size(graph)
        parts = []
        for start in range(0, len(nodes), step):
            chunk = nodes[start : start + step]
            local, cols, features = self._chunk_candidates(graph, chunk)
            parts.append((chunk[local], cols, features))
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))

    def _chunk_candidates(self, graph: Graph, chunk: np.ndarray):
        """(index into chunk, candidate, features) of each candidate pair, sorted by index."""
        n = graph.n
        sub = graph.linked[chunk]
        count_keys, count_values = matrix_keys(sub @ graph.linked)
        aa_keys, aa_values = matrix_keys(sub @ graph.aa_rows)
        ra_keys, ra_values = matrix_keys(sub @ graph.ra_rows)
        keys = [count_keys]
        k = min(self.params["embedding_candidates"], n - 1)
        step = max(1, DENSE_BUDGET // n)
        for start in range(0, len(chunk) if k > 0 else 0, step):
            part = chunk[start : start + step]
            near = self._embedding_neighbours(part, k)
            local = np.repeat(np.arange(start, start + len(part)), k + 1)
            keys.append(pair_keys(local, near.ravel(), n))
        keys = np.unique(np.concatenate(keys))
        local, cols = np.divmod(keys, n)
        rows = chunk[local]
        fresh = (rows != cols) & (graph.followed(rows, cols) == 0)
        keys, local, rows, cols = keys[fresh], local[fresh], rows[fresh], cols[fresh]
        # The ranker re-orders the head of each node's list by resource allocation (a
        # cascade): trained and used on the same head, it learns what lifts a pair into the
        # top few, not what tells a friend of friends from a stranger.
        resource_allocation = lookup(ra_keys, ra_values, keys)
        order = np.lexsort((-resource_allocation, local))
        rank = np.arange(len(order)) - np.searchsorted(local[order], local[order])
        head = order[rank < self.params["rerank_depth"]]
        keys, local, rows, cols = keys[head], local[head], rows[head], cols[head]
        features = self._features(
            graph,
            rows,
            cols,
            lookup(count_keys, count_values, keys),
            lookup(aa_keys, aa_values, keys),
            resource_allocation[head],
            local,
        )
        return local, cols, features

    def _embedding_logits(self, rows, cols) -> np.ndarray:
        return (
            np.einsum("ij,ij->i", self.vectors[rows], self.vectors[cols])
            + self.biases[rows]
            + self.biases[cols]
        )

    def _features(self, graph, rows, cols, shared, adamic_adar, resource_allocation, group):
        """The :data:`FEATURES` of pairs (rows[i], cols[i]) given their neighbourhood sums.
        ``group`` numbers the node each pair belongs to (a node's pairs contiguous: its
        candidate list), or is (best Adamic-Adar, best embedding logit) of each pair's node."""
        embedding = self._embedding_logits(rows, cols)
        if isinstance(group, tuple):
            best_aa, best_embedding = group
        else:
            starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else []
            sizes = np.diff(np.r_[starts, len(group)])

            def group_max(values):
                return (
                    np.repeat(np.maximum.reduceat(values, starts), sizes) if len(values) else values
                )

            best_aa, best_embedding = group_max(adamic_adar), group_max(embedding)
        return np.column_stack(
            [
                np.log1p(shared),
                adamic_adar,
                resource_allocation,
                shared / np.maximum(graph.degree[rows] + graph.degree[cols] - shared, 1),
                embedding,
                np.log1p(graph.degree[cols]),
                graph.followed(cols, rows),
                np.einsum("ij,ij->i", self.brands[rows], self.brands[cols]),
                adamic_adar / np.where(best_aa > 0, best_aa, 1),
                shared / np.maximum(graph.degree[rows], 1),
                embedding - best_embedding,
            ]
        ).astype(np.float32)

    # ---- serving ----------------------------------------------------------------------------
    def pair_scores(self, features: np.ndarray) -> np.ndarray:
        """The ranker's logit of each featurised pair."""
        return (self._design(features) @ self.weights).astype(np.float32)

    def suggest(self, nodes, n: int = 10) -> Suggestions:
        """Top-``n`` people for each node (never itself nor someone it follows)."""
        self._require_fitted()
        nodes = np.asarray(nodes).reshape(-1)
        if nodes.size and nodes.dtype.kind not in "iu":
            raise ValueError("nodes must be integer node indices")
        nodes = nodes.astype(np.int64)
        if ((nodes < 0) | (nodes >= self.n_nodes)).any():
            raise ValueError(f"node indices must be in [0, {self.n_nodes})")
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError("n must be a positive integer")
        ids = np.full((len(nodes), n), -1, dtype=np.int64)
        scores = np.full((len(nodes), n), -np.inf, dtype=np.float32)
        features = np.zeros((len(nodes), n, len(FEATURES)), dtype=np.float32)
        step = self._chunk_size(self.graph)
        for start in range(0, len(nodes), step):
            local, cols, feats = self._chunk_candidates(self.graph, nodes[start : start + step])
            score = self.pair_scores(feats)
            order = np.lexsort((-score, local))
            local, cols, score, feats = local[order], cols[order], score[order], feats[order]
            rank = np.arange(len(local)) - np.searchsorted(local, local, side="left")
            top = rank < n
            at = (start + local[top], rank[top])
            ids[at], scores[at], features[at] = cols[top], score[top], feats[top]
        return Suggestions(ids, scores, features)

    def recommend(self, nodes, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        suggestions = self.suggest(nodes, n)
        return suggestions.ids, suggestions.scores

    def score(self, pairs) -> np.ndarray:
        """A score per (u, v) pair, higher = more likely to follow, ordered as suggestions
        are: a pair in u's re-ranked head by its learned logit, above every pair outside it,
        which rank among themselves by resource allocation (the cascade's first stage)."""
        self._require_fitted()
        pairs = np.asarray(pairs)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or (pairs.size and pairs.dtype.kind not in "iu"):
            raise ValueError("pairs must be a [p, 2] array of node indices")
        rows, cols = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
        if pairs.size and (pairs.min() < 0 or pairs.max() >= self.n_nodes):
            raise ValueError(f"node indices must be in [0, {self.n_nodes})")
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        graph = self.graph
        # The relative features compare a pair with the best of its node's candidate list.
        nodes, node_of = np.unique(rows, return_inverse=True)
        best = np.zeros((len(nodes), 2), dtype=np.float32)
        head_keys = []
        step = self._chunk_size(graph)
        for start in range(0, len(nodes), step):
            local, head, feats = self._chunk_candidates(graph, nodes[start : start + step])
            head_keys.append(pair_keys(nodes[start + local], head, self.n_nodes))
            aa = feats[:, FEATURES.index("adamic_adar")]
            logit = feats[:, FEATURES.index("embedding")]
            np.maximum.at(best[:, 0], start + local, aa)
            best[start : start + step, 1] = -np.inf
            np.maximum.at(best[:, 1], start + local, logit)
        best[~np.isfinite(best)] = 0.0
        shared = graph.linked[rows].multiply(graph.linked[cols]).tocsr()
        features = self._features(
            graph,
            rows,
            cols,
            np.asarray(shared.sum(axis=1)).ravel(),
            shared @ graph.aa_weight,
            shared @ graph.ra_weight,
            (best[node_of, 0], best[node_of, 1]),
        )
        logits = self.pair_scores(features)
        in_head = np.isin(pair_keys(rows, cols, self.n_nodes), np.concatenate(head_keys))
        if not in_head.any():
            return features[:, FEATURES.index("resource_allocation")]
        ra = features[:, FEATURES.index("resource_allocation")]
        below = logits[in_head].min() - 1.0 - 1.0 / (1.0 + ra)  # in (floor - 2, floor - 1)
        return np.where(in_head, logits, below).astype(np.float32)

    # ---- state ------------------------------------------------------------------------------
    def _get_state(self):
        follows = self.graph.follows
        arrays = {
            "follows_indptr": follows.indptr,
            "follows_indices": follows.indices,
            "vectors": self.vectors,
            "biases": self.biases,
            "brands": self.brands,
            "weights": self.weights,
            "mean": self.mean,
            "std": self.std,
        }
        return {"n_nodes": self.n_nodes}, arrays

    def _set_state(self, meta, arrays):
        self.n_nodes = int(meta["n_nodes"])
        indices, indptr = arrays["follows_indices"], arrays["follows_indptr"]
        follows = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr),
            shape=(self.n_nodes, self.n_nodes),
        )
        self.graph = Graph(follows)
        self.vectors, self.biases, self.brands = (
            arrays["vectors"],
            arrays["biases"],
            arrays["brands"],
        )
        self._neighbour_index = None
        self.weights = arrays["weights"]
        self.mean, self.std = arrays["mean"], arrays["std"]
