"""Article ranking for the content scenario: text encoders trained on article texts, and the
hybrid of text, co-reads and freshness that ranks a reader's feed.

Two encoders map an article's text (English and Chinese, :func:`ml.text_tokenize.features`) to a
unit vector; both serve from numpy arrays alone:

- :class:`TfidfSvdEncoder`: TF-IDF of the features, reduced by a truncated SVD (LSA). The
  baseline: it knows which words co-occur in texts, nothing of what readers read together.
- :class:`ReadTextEncoder`: the same features through an embedding trained in TensorFlow on the
  reads (started at the LSA projection; by default a learned linear map on top of it, which
  cannot memorise single articles): a reader's other reads, averaged, must pick the article
  they read among every article someone read (full softmax), plus a self-supervised term (two
  random halves of an article's features must find each other in the batch). Reads teach what
  words cannot: readers of phone reviews read headphone reviews. No pretrained weights: it
  learns from this catalogue's texts and reads alone, and the epoch is chosen on later reads.

Either way a new article is placed from its text alone. :class:`ArticleRanker` scores a reader's
feed: ``(1 - f) * (a * text + (1 - a) * co-reads) + f * 0.5 ** (age / half_life)``, with the text
weight ``a`` and freshness weight ``f`` tuned on a later slice of reads (:func:`tune_weights`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.artifacts import load_folder, save_folder
from ml.base import top_n
from ml.metrics.ranking import ndcg_at_k
from ml.text_tokenize import features

DAY = 86_400.0
ENCODERS = ("tf", "tfidf_svd")
TEXT_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
FRESHNESS_WEIGHTS = (0.0, 0.1, 0.2, 0.35, 0.5)


def article_features(text: str, max_features: int) -> list[str]:
    """Words (English stems, Chinese bigrams and characters), word bigrams and character
    3-grams of English words: what both encoders read."""
    return features(text, "bigram", max_features)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class _Vocabulary:
    """Feature -> column (1-based: column 0 is padding / unknown), kept to ``min_count``."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self.index = {name: i + 1 for i, name in enumerate(self.names)}

    @classmethod
    def build(cls, documents: list[list[str]], min_count: int) -> _Vocabulary:
        counts = Counter(f for feats in documents for f in set(feats))
        return cls(sorted(f for f, c in counts.items() if c >= min_count))

    def __len__(self) -> int:
        return len(self.names) + 1

    def bag(self, documents: list[list[str]]) -> sp.csr_matrix:
        rows, cols = [], []
        for row, feats in enumerate(documents):
            for column in (self.index.get(f) for f in feats):
                if column is not None:
                    rows.append(row)
                    cols.append(column)
        matrix = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(documents), len(self))
        )
        matrix.sum_duplicates()
        return matrix

    def padded(self, documents: list[list[str]]) -> np.ndarray:
        rows = [[self.index[f] for f in feats if f in self.index] for feats in documents]
        ids = np.zeros((len(rows), max(1, max(map(len, rows), default=1))), np.int32)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        return ids


class TextEncoder:
    """Shared parameters, feature extraction, and save / load as plain arrays."""

    name = ""

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.default_params())
        if unknown:
            raise ValueError(f"{self.name}: unknown hyperparameters {sorted(unknown)}")
        self.params = {**self.default_params(), **params}
        for key in ("dim", "max_features", "min_count"):
            if not (isinstance(self.params[key], int) and self.params[key] >= 1):
                raise ValueError(f"{key} must be a positive integer, got {self.params[key]!r}")
        self.history: dict[str, list[float]] = {}

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"dim": 64, "min_count": 2, "max_features": 400}

    def _features(self, texts: list[str]) -> list[list[str]]:
        return [article_features(t, self.params["max_features"]) for t in texts]

    def _check_texts(self, texts) -> list[str]:
        texts = list(texts)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError("texts must be a non-empty list of strings")
        return texts

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors [n, dim] (zero for a text with no known feature); numpy only."""
        raise NotImplementedError

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    def save(self, folder) -> None:
        meta, arrays = self.state()
        config = {"name": self.name, "params": self.params, "history": self.history, **meta}
        save_folder(folder, config, {"vocabulary": np.array(self.vocabulary.names, str), **arrays})

    @staticmethod
    def load(folder) -> TextEncoder:
        config, arrays = load_folder(folder)
        cls = {c.name: c for c in (TfidfSvdEncoder, ReadTextEncoder)}.get(config["name"])
        if cls is None:
            raise ValueError(f"{folder} holds no article text encoder")
        encoder = cls(**config["params"])
        encoder.history = config.get("history", {})
        encoder.vocabulary = _Vocabulary(arrays.pop("vocabulary").tolist())
        encoder.set_state(arrays)
        return encoder

    def set_state(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


class TfidfSvdEncoder(TextEncoder):
    """LSA: sublinear TF-IDF of the features, projected on its top ``dim`` singular vectors."""

    name = "tfidf_svd"

    def fit(self, texts, reads=None, validation=None) -> TfidfSvdEncoder:
        """Fit on the texts (``reads`` and ``validation`` are accepted for a common signature
        and not used)."""
        from scipy.sparse.linalg import svds

        documents = self._features(self._check_texts(texts))
        self.vocabulary = _Vocabulary.build(documents, self.params["min_count"])
        bag = self.vocabulary.bag(documents)
        frequency = np.asarray((bag > 0).sum(axis=0)).ravel()
        self.idf = (np.log((1 + len(documents)) / (1 + frequency)) + 1.0).astype(np.float32)
        weighted = self._weighted(bag)
        rank = min(self.params["dim"], min(weighted.shape) - 1)
        if rank < 1:
            raise ValueError("too few texts or features for an SVD")
        _, singular, components = svds(weighted.astype(np.float64), k=rank, random_state=0)
        order = np.argsort(-singular)
        self.components = components[order].astype(np.float32)
        self.history = {"explained_singular_mass": [float(singular.sum())]}
        return self

    def _weighted(self, bag: sp.csr_matrix) -> sp.csr_matrix:
        logged = bag.copy()
        logged.data = 1.0 + np.log(logged.data)
        weighted = sp.csr_matrix(logged @ sp.diags(self.idf))
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ weighted)

    def encode(self, texts):
        weighted = self._weighted(self.vocabulary.bag(self._features(list(texts))))
        return _unit(np.asarray(weighted @ self.components.T))

    def state(self):
        return {}, {"idf": self.idf, "components": self.components}

    def set_state(self, arrays):
        self.idf, self.components = arrays["idf"], arrays["components"]


class ReadTextEncoder(TfidfSvdEncoder):
    """LSA, then tuned on reads in TensorFlow: an article's vector is its TF-IDF features
    times a learned feature embedding (started at the SVD projection), trained so a reader's
    other reads pick the article read (see the module docstring). With ``validation`` the
    epoch with the best NDCG@10 of the text ranking is kept (epoch 0 is plain LSA)."""

    name = "tf"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            **super().default_params(),
            "epochs": 10,
            "batch_size": 512,
            "learning_rate": 0.005,
            "temperature": 0.1,
            "self_weight": 0.2,
            "history": 30,
            "tune": "projection",  # or "features": the whole feature embedding
            "l2": 0.0,
            "seed": 0,
        }

    def __init__(self, **params: Any):
        super().__init__(**params)
        p = self.params
        for key, least in (("epochs", 0), ("batch_size", 1), ("history", 1)):
            if not (isinstance(p[key], int) and p[key] >= least):
                raise ValueError(f"{key} must be an integer of at least {least}, got {p[key]!r}")
        if not p["temperature"] > 0 or not p["learning_rate"] > 0 or p["self_weight"] < 0:
            raise ValueError("temperature and learning_rate must be positive, self_weight >= 0")
        if p["tune"] not in ("projection", "features"):
            raise ValueError(f"tune must be 'projection' or 'features', not {p['tune']!r}")

    def fit(self, texts, reads: sp.csr_matrix | None = None, validation=None) -> ReadTextEncoder:
        """Fit on the article texts and a readers x articles matrix of reads (row order of
        ``texts``); ``validation`` = (reads before, reads after) of the same articles picks the
        epoch (a third entry, a boolean mask over the articles, limits the ranking to them).
        With no reader of two articles only the self-supervised term trains."""
        import keras
        import tensorflow as tf

        from ml.models.common import seed_tensorflow

        p = self.params
        texts = self._check_texts(texts)
        super().fit(texts)
        seed_tensorflow(p["seed"])
        rng = np.random.default_rng(p["seed"])
        self.documents = self._weighted(self.vocabulary.bag(self._features(texts)))
        weighted = self.documents.tocoo()
        self.embedding = self.components.T.copy()
        features = tf.SparseTensor(
            np.c_[weighted.row, weighted.col].astype(np.int64),
            weighted.data.astype(np.float32),
            weighted.shape,
        )
        scale = float(np.abs(self.embedding).mean()) or 1.0
        start = tf.constant(self.embedding / scale)
        projection = p["tune"] == "projection"
        dim = self.embedding.shape[1]
        table = tf.Variable(np.eye(dim, dtype=np.float32) if projection else start)
        optimizer = keras.optimizers.Adam(p["learning_rate"])
        pairs, histories = self._pairs(reads, len(texts), rng)
        # Negatives are articles someone read: one nobody read yet (not published then) is no
        # evidence against a reader, and pushing it away would teach "new is bad".
        was_read = np.zeros(len(texts), bool)
        if reads is not None:
            was_read[np.asarray((sp.csr_matrix(reads) != 0).sum(axis=0)).ravel() > 0] = True
        unread = tf.constant(np.where(was_read, 0.0, -1e9).astype(np.float32))
        n_values = len(weighted.data)

        def encode(matrix):
            if projection:
                return tf.math.l2_normalize(tf.sparse.sparse_dense_matmul(matrix, start) @ table, 1)
            return tf.math.l2_normalize(tf.sparse.sparse_dense_matmul(matrix, table), 1)

        def softmax_loss(logits, labels):
            return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))

        @tf.function(reduce_retracing=True)
        def step(targets, history, articles, keep):
            with tf.GradientTape() as tape:
                vectors = encode(features)
                mask = tf.cast(history >= 0, tf.float32)[..., None]
                profile = tf.reduce_sum(tf.gather(vectors, tf.maximum(history, 0)) * mask, 1)
                profile = tf.math.l2_normalize(profile, 1)
                logits = tf.matmul(profile, vectors, transpose_b=True) / p["temperature"]
                loss = softmax_loss(logits + unread, targets)
                if p["self_weight"] > 0:
                    left = encode(
                        tf.SparseTensor(
                            features.indices, features.values * keep, features.dense_shape
                        )
                    )
                    right = encode(
                        tf.SparseTensor(
                            features.indices, features.values * (1 - keep), features.dense_shape
                        )
                    )
                    logits = (
                        tf.matmul(
                            tf.gather(left, articles), tf.gather(right, articles), transpose_b=True
                        )
                        / p["temperature"]
                    )
                    loss += p["self_weight"] * softmax_loss(logits, tf.range(tf.shape(articles)[0]))
                if p["l2"] > 0:
                    anchor = tf.eye(dim) if projection else start
                    loss += p["l2"] * tf.reduce_sum(tf.square(table - anchor))
            optimizer.apply_gradients([(tape.gradient(loss, table), table)])
            return loss

        self.history = {"loss": [], "val_ndcg@10": []}
        best, best_epoch = self._validation_ndcg(validation), 0
        kept = self.embedding
        if validation is not None:
            self.history["val_ndcg@10"].append(best)
        batch = p["batch_size"]
        self.best_epoch = 0
        if not len(pairs):
            return self  # nothing read together: LSA it stays
        steps = int(np.ceil(len(pairs) / batch))
        for epoch in range(1, p["epochs"] + 1):
            order = rng.permutation(len(pairs))
            losses = []
            for s in range(steps):
                chosen = order[s * batch : (s + 1) * batch]
                articles = rng.choice(len(texts), size=min(batch, len(texts)), replace=False)
                keep = (rng.random(n_values) < 0.5).astype(np.float32)
                loss = step(
                    tf.constant(pairs[chosen, 1]),
                    tf.constant(histories[pairs[chosen, 0]]),
                    tf.constant(articles.astype(np.int32)),
                    tf.constant(keep),
                )
                losses.append(float(loss))
            self.history["loss"].append(float(np.mean(losses)))
            trained = table.numpy()
            self.embedding = (start.numpy() @ trained if projection else trained) * scale
            if validation is not None:
                score = self._validation_ndcg(validation)
                self.history["val_ndcg@10"].append(score)
                if score > best:
                    best, best_epoch, kept = score, epoch, self.embedding
        if validation is not None:
            self.embedding = kept
        self.best_epoch = best_epoch if validation is not None else p["epochs"]
        return self

    def _validation_ndcg(self, validation) -> float:
        """NDCG@10 of ranking by cosine to the reader's profile (text alone), read ones out;
        a third entry of ``validation`` (a boolean mask) limits the candidates (cold items)."""
        if validation is None:
            return 0.0
        before, after, *candidates = validation
        readers = np.flatnonzero((np.diff(after.indptr) > 0) & (np.diff(before.indptr) > 0))
        if not len(readers):
            return 0.0
        vectors = _unit(np.asarray(self.documents @ self.embedding))
        profile = _unit(np.asarray(before[readers] @ vectors))
        scores = profile @ vectors.T
        rows, cols = before[readers].nonzero()
        scores[rows, cols] = -np.inf
        if candidates:
            scores[:, ~np.asarray(candidates[0], bool)] = -np.inf
        return float(ndcg_at_k(top_n(scores, 10)[0], after[readers], 10))

    def _pairs(self, reads, n_articles: int, rng) -> tuple[np.ndarray, np.ndarray]:
        """(example, target article) rows and, per example, the reader's other reads (up to
        ``history``, -1 padded): one example per read of a reader with two or more reads."""
        width = self.params["history"]
        none = np.zeros((0, 2), np.int32), np.zeros((0, width), np.int32)
        if reads is None or reads.nnz == 0:
            return none
        reads = sp.csr_matrix(reads)
        reads.eliminate_zeros()  # a stored zero is no read
        if reads.shape[1] != n_articles:
            raise ValueError(f"reads must have {n_articles} columns, one per text")
        targets, rows = [], []
        for user in range(reads.shape[0]):
            read = reads.indices[reads.indptr[user] : reads.indptr[user + 1]]
            if len(read) < 2:
                continue
            for target in read:
                others = read[read != target]
                if len(others) > width:
                    others = rng.choice(others, size=width, replace=False)
                row = np.full(width, -1, np.int32)
                row[: len(others)] = others
                rows.append(row)
                targets.append(target)
        if not targets:
            return none
        pairs = np.c_[np.arange(len(targets)), targets].astype(np.int32)
        return pairs, np.vstack(rows)

    def encode(self, texts):
        weighted = self._weighted(self.vocabulary.bag(self._features(list(texts))))
        return _unit(np.asarray(weighted @ self.embedding))

    def state(self):
        return {}, {"idf": self.idf, "components": self.components, "embedding": self.embedding}

    def set_state(self, arrays):
        super().set_state(arrays)
        self.embedding = arrays["embedding"]


def make_encoder(name: str, params: dict[str, Any] | None = None) -> TextEncoder:
    if name not in ENCODERS:
        raise ValueError(f"text encoder must be one of {ENCODERS}, not {name!r}")
    cls = ReadTextEncoder if name == "tf" else TfidfSvdEncoder
    return cls(**(params or {}))


def freshness(published: np.ndarray, now: float, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life), 1 for an article published now (or later)."""
    age = np.maximum(now - np.asarray(published, np.float64), 0.0) / DAY
    return np.power(0.5, age / half_life_days).astype(np.float32)


@dataclass
class ArticleRanker:
    """Scores articles for readers from their reads: numpy only (the serving path)."""

    vectors: np.ndarray  # [articles, dim] unit text vectors
    co_reads: sp.csr_matrix  # [articles, articles] item-kNN similarity (source x target)
    popularity: np.ndarray  # [articles] in [0, 1]
    published: np.ndarray  # [articles] unix seconds
    text_weight: float = 0.5
    freshness_weight: float = 0.2
    half_life_days: float = 7.0

    def parts(self, reads: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Text and co-read scores [readers, articles] of readers with these reads (rows),
        each in [0, 1]: cosine to the readers' read-weighted mean vector (clipped at 0), and
        the item-kNN score over the row's best."""
        reads = sp.csr_matrix(reads, dtype=np.float32)
        profile = _unit(np.asarray(reads @ self.vectors))
        text = np.clip(profile @ self.vectors.T, 0.0, 1.0)
        co = np.asarray((reads @ self.co_reads).todense(), dtype=np.float32)
        co /= np.maximum(co.max(axis=1, keepdims=True), 1e-12)
        return text, co

    def scores(self, reads: sp.csr_matrix, now: float, weights=None, parts=None) -> np.ndarray:
        """Scores [readers, articles]; ``parts`` reuses what :meth:`parts` returned for them."""
        text_weight, fresh_weight = weights or (self.text_weight, self.freshness_weight)
        text, co = parts or self.parts(reads)
        relevance = text_weight * text + (1 - text_weight) * co
        fresh = freshness(self.published, now, self.half_life_days)
        no_reads = np.diff(sp.csr_matrix(reads).indptr) == 0
        relevance[no_reads] = self.popularity
        return (1 - fresh_weight) * relevance + fresh_weight * fresh[None, :]

    def recommend(
        self, reads: sp.csr_matrix, now: float, n: int, allowed=None, weights=None
    ) -> np.ndarray:
        """Top-``n`` article indices per reader, never one they read, -1 padded."""
        reads = sp.csr_matrix(reads)
        scores = self.scores(reads, now, weights)
        rows, cols = reads.nonzero()
        scores[rows, cols] = -np.inf
        if allowed is not None:
            scores[:, ~np.asarray(allowed, bool)] = -np.inf
        return top_n(scores, n)[0]


def tune_weights(
    ranker: ArticleRanker, train: sp.csr_matrix, held_out: sp.csr_matrix, now: float, k: int = 10
) -> tuple[tuple[float, float], dict[tuple[float, float], float]]:
    """The (text weight, freshness weight) of the grid with the best NDCG@k on ``held_out``
    reads of readers with train reads (ties: the first, i.e. less freshness, less text)."""
    users = np.flatnonzero((np.diff(held_out.indptr) > 0) & (np.diff(train.indptr) > 0))
    if not len(users):
        return (ranker.text_weight, ranker.freshness_weight), {}
    found = {}
    for text_weight in TEXT_WEIGHTS:
        for fresh_weight in FRESHNESS_WEIGHTS:
            lists = ranker.recommend(train[users], now, k, weights=(text_weight, fresh_weight))
            found[(text_weight, fresh_weight)] = ndcg_at_k(lists, held_out[users], k)
    best = max(found, key=lambda w: (found[w], -w[1], -w[0]))
    return best, found


# ---- the evaluation protocol training and bench/content.py share ---------------------------
@dataclass
class ReadLog:
    """Articles (texts, publication times) and reads (reader, article, weight, time) as
    parallel arrays; what training reads from the database and the benchmark generates."""

    texts: list[str]
    published: np.ndarray
    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    times: np.ndarray
    n_users: int

    def matrix(self, keep: np.ndarray | None = None) -> sp.csr_matrix:
        keep = np.ones(len(self.users), bool) if keep is None else keep
        matrix = sp.csr_matrix(
            (self.weights[keep], (self.users[keep], self.items[keep])),
            shape=(self.n_users, len(self.texts)),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        return matrix

    def cut(self, ratio: float) -> float:
        """The read time before which a share ``ratio`` of the reads lie."""
        ordered = np.sort(self.times)
        return float(ordered[min(int(round(ratio * len(ordered))), len(ordered) - 1)])

    def window(self, start: float, end: float = np.inf) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(reads before ``start``, articles first read in [start, end) by a reader who had
        not read them before) — what a feed at ``start`` should have shown."""
        before = self.times < start
        train = self.matrix(before)
        inside = (self.times >= start) & (self.times < end)
        held = sp.csr_matrix(
            (np.ones(int(inside.sum()), np.float32), (self.users[inside], self.items[inside])),
            shape=train.shape,
        )
        held.sum_duplicates()
        held.data[:] = 1.0
        held = held - held.multiply(train > 0)
        held.eliminate_zeros()
        return train, sp.csr_matrix(held)


def fit_ranker(
    log: ReadLog,
    train: sp.csr_matrix,
    encoder: str = "tf",
    encoder_params: dict[str, Any] | None = None,
    neighbours: int = 100,
    validation: sp.csr_matrix | None = None,
) -> tuple[ArticleRanker, TextEncoder, Any]:
    """The encoder fitted on every text and the ``train`` reads (``validation``: later reads
    that pick its epoch), item-kNN co-reads and read popularity from ``train``: a ranker with
    the default weights."""
    from ml.models.itemknn import ItemKNN

    checked = None if validation is None else (train, validation)
    text_encoder = make_encoder(encoder, encoder_params).fit(log.texts, train, checked)
    co_reads = ItemKNN(similarity="cosine", neighbours=neighbours).fit(train)
    counts = np.asarray((train > 0).sum(axis=0), np.float32).ravel()
    ranker = ArticleRanker(
        vectors=text_encoder.encode(log.texts),
        co_reads=co_reads.similarity_,
        popularity=counts / max(float(counts.max()), 1.0),
        published=np.asarray(log.published, np.float64),
    )
    return ranker, text_encoder, co_reads


def list_metrics(lists: np.ndarray, held: sp.csr_matrix, n_items: int, k: int = 10) -> dict:
    """NDCG, recall and hit rate at ``k`` over readers with held-out reads, and the share of
    articles any list shows (coverage)."""
    from ml.metrics.beyond import catalog_coverage
    from ml.metrics.ranking import hit_rate_at_k, recall_at_k

    return {
        f"ndcg@{k}": ndcg_at_k(lists, held, k),
        f"recall@{k}": recall_at_k(lists, held, k),
        f"hit_rate@{k}": hit_rate_at_k(lists, held, k),
        f"coverage@{k}": catalog_coverage(lists[:, :k], n_items),
    }


@dataclass
class HybridRun:
    """One run of the protocol: the ranker measured on the test slice, and what it took."""

    ranker: ArticleRanker  # fitted on reads before the test cut, with the tuned weights
    encoder: TextEncoder
    weights: tuple[float, float]  # (text weight, freshness weight)
    metrics: dict[str, float]
    history: dict[str, list[float]]  # the validation fit's: loss and val_ndcg@10 per epoch
    test_cut: float
    train: sp.csr_matrix  # reads before the test cut
    test: sp.csr_matrix  # new articles read after it
    readers: np.ndarray  # readers with reads on both sides


def train_hybrid(
    log: ReadLog,
    test_ratio: float = 0.2,
    encoder: str = "tf",
    encoder_params: dict[str, Any] | None = None,
    neighbours: int = 100,
    half_life_days: float = 7.0,
    k: int = 10,
) -> HybridRun:
    """Three slices in time: fit on the first, tune the weights (and the encoder's epochs) on
    the reads of the second, refit on both and measure on the third."""
    params = dict(encoder_params or {})
    validation_cut, test_cut = log.cut(1 - 2 * test_ratio), log.cut(1 - test_ratio)
    fit_reads, validation = log.window(validation_cut, test_cut)
    train, test = log.window(test_cut)
    if not fit_reads.nnz or not validation.nnz or not test.nnz:
        raise ValueError("too few reads in one of the time slices to tune and measure")
    ranker, tuned, _ = fit_ranker(log, fit_reads, encoder, params, neighbours, validation)
    ranker.half_life_days = half_life_days
    weights, _ = tune_weights(ranker, fit_reads, validation, validation_cut, k)
    if encoder == "tf":
        params["epochs"] = tuned.best_epoch
    ranker, fitted, _ = fit_ranker(log, train, encoder, params, neighbours)
    ranker.half_life_days = half_life_days
    ranker.text_weight, ranker.freshness_weight = weights
    readers = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))
    if not len(readers):
        raise ValueError("no reader has reads both before and after the test cut")
    lists = ranker.recommend(train[readers], test_cut, k)
    metrics = list_metrics(lists, test[readers], len(log.texts), k)
    return HybridRun(
        ranker, fitted, weights, metrics, tuned.history, test_cut, train, test, readers
    )
