"""FAQ matching for Chinese and English: BM25 on bm25s, a TensorFlow dual encoder and a hybrid.

The matchers of :mod:`ml.models.text_matching` read ASCII words only, so a Chinese question has
no tokens there. These keep their interface (``fit``, ``match``, ``answer_scores``,
``confidence``, save and load) and read :mod:`ml.text_tokenize` tokens instead, with the
Chinese tokenization (``chinese``: jieba words or character bigrams) a hyperparameter.

Serving needs numpy only: the BM25 index is bm25s's sparse token x question score matrix, the
encoder an embedding table and the question vectors.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.base import register
from ml.models.common import seed_tensorflow
from ml.models.text_matching import HybridMatcher, TextMatcher, _check_texts
from ml.text_tokenize import CHINESE_MODES, features, tokenize


class TokenMatcher(TextMatcher):
    """A text matcher over :func:`ml.text_tokenize.tokenize` tokens."""

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {**super().default_params(), "chinese": "bigram"}

    def fit(self, questions, answer_ids, validation=None) -> TokenMatcher:
        """As :meth:`TextMatcher.fit`, but a question of Chinese characters alone has words."""
        if self.params["chinese"] not in CHINESE_MODES:
            raise ValueError(f"chinese must be one of {CHINESE_MODES}")
        questions = _check_texts(questions, "questions")
        answer_ids = None if isinstance(answer_ids, str) else list(answer_ids)
        if answer_ids is None or len(answer_ids) != len(questions):
            raise ValueError("answer_ids must be a list with one answer id per question")
        if not any(self.tokens(q) for q in questions):
            raise ValueError("questions contain no words")
        if validation is not None:
            if len(validation) != 2 or len(validation[0]) != len(validation[1]):
                raise ValueError("validation must be (queries, answer ids) of equal length")
            _check_texts(validation[0], "validation queries")
        self.fitted = False
        self._set_answers(answer_ids)
        order = np.argsort(self.doc_answer, kind="stable")  # group each answer's questions
        self.doc_answer = self.doc_answer[order]
        self.history = type(self.history)()
        self._fit([questions[i] for i in order], validation)
        self.fitted = True
        return self

    def tokens(self, text: str) -> list[str]:
        return tokenize(text, self.params["chinese"])


@register
class Bm25sMatcher(TokenMatcher):
    """Okapi BM25 (bm25s, Lucene variant) of the query against every known question."""

    name = "faq_bm25"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {**super().default_params(), "k1": 1.2, "b": 0.75}

    def _fit(self, questions, validation) -> None:
        import bm25s

        index = bm25s.BM25(k1=self.params["k1"], b=self.params["b"])
        index.index([self.tokens(q) for q in questions], show_progress=False)
        scores = index.scores
        n_tokens = len(scores["indptr"]) - 1  # rows of real tokens; bm25s adds "" past them
        self.vocabulary = {t: i for t, i in index.vocab_dict.items() if i < n_tokens}
        self.token_scores = sp.csr_matrix(
            (scores["data"], scores["indices"], scores["indptr"]),
            shape=(n_tokens, scores["num_docs"]),
            dtype=np.float32,
        )
        self._log_validation(validation, documents=len(questions))

    def _question_scores(self, queries):
        """A query's BM25 is the sum of its distinct known tokens' rows (bm25s's scoring)."""
        rows, cols = [], []
        for row, query in enumerate(queries):
            known = {self.vocabulary[t] for t in self.tokens(query) if t in self.vocabulary}
            rows += [row] * len(known)
            cols += sorted(known)
        picks = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(queries), self.token_scores.shape[0]),
        )
        return (picks @ self.token_scores).toarray()

    def _get_state(self):
        meta, arrays = self._state()
        matrix = self.token_scores
        return {**meta, "vocabulary": sorted(self.vocabulary, key=self.vocabulary.get)}, {
            **arrays,
            "s_data": matrix.data,
            "s_indices": matrix.indices,
            "s_indptr": matrix.indptr,
        }

    def _set_state(self, meta, arrays):
        self._set_answer_state(meta, arrays)
        self.vocabulary = {token: i for i, token in enumerate(meta["vocabulary"])}
        self.token_scores = sp.csr_matrix(
            (arrays["s_data"], arrays["s_indices"], arrays["s_indptr"]),
            shape=(len(self.vocabulary), len(arrays["doc_answer"])),
        )


@register
class FaqDualEncoder(TokenMatcher):
    """A shared text tower (mean of learned token and character n-gram embeddings,
    L2-normalised) trained so that questions with the same answer land close together: each
    step pairs two questions of ``batch_size`` different answers, every other answer in the
    batch a negative (in-batch softmax both ways, as ``text_matching.DualEncoderMatcher``)."""

    name = "faq_dual_encoder"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            **super().default_params(),
            "temperature": 0.05,
            "dim": 64,
            "min_count": 1,
            "max_features": 300,
            "epochs": 30,
            "batch_size": 64,
            "learning_rate": 0.01,
            "train_temperature": 0.05,
            "seed": 0,
        }

    def _features(self, text: str) -> list[str]:
        return features(text, self.params["chinese"], self.params["max_features"])

    def _fit(self, questions, validation) -> None:
        import keras
        import tensorflow as tf

        p = self.params
        seed_tensorflow(p["seed"])
        rng = np.random.default_rng(p["seed"])
        found = [self._features(q) for q in questions]
        counts = Counter(f for feats in found for f in set(feats))
        self.vocabulary = sorted(f for f, c in counts.items() if c >= p["min_count"])
        self._index = {f: i + 1 for i, f in enumerate(self.vocabulary)}  # 0 = padding
        rows = [[self._index[f] for f in feats if f in self._index] for feats in found]
        ids = np.zeros((len(rows), max(1, max(map(len, rows)))), dtype=np.int32)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        starts = self._segment_starts()
        sizes = np.diff(np.r_[starts, len(questions)])
        eligible = np.nonzero(sizes >= 2)[0]
        if eligible.size < 2:
            raise ValueError("the dual encoder needs two answers with two or more questions")
        batch = min(p["batch_size"], eligible.size)
        embedding = keras.layers.Embedding(
            len(self.vocabulary) + 1,
            p["dim"],
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1),
        )
        embedding.build((None,))
        optimizer = keras.optimizers.Adam(p["learning_rate"])
        ids_tensor = tf.constant(ids)

        def encode(picked):
            batch_ids = tf.gather(ids_tensor, picked)
            mask = tf.cast(batch_ids > 0, tf.float32)[..., None]
            summed = tf.reduce_sum(embedding(batch_ids) * mask, axis=1)
            return tf.math.l2_normalize(summed / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0), 1)

        @tf.function
        def train_step(left, right):
            with tf.GradientTape() as tape:
                logits = tf.matmul(encode(left), encode(right), transpose_b=True)
                logits /= p["train_temperature"]
                labels = tf.range(tf.shape(logits)[0])
                loss = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
                    + tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.transpose(logits))
                )
            variables = embedding.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            return loss / 2

        steps = max(1, int(sizes[eligible].sum()) // (2 * batch))
        for _ in range(p["epochs"]):
            losses = []
            for _ in range(steps):
                chosen = rng.choice(eligible, size=batch, replace=False)
                offsets = np.array([rng.choice(sizes[a], size=2, replace=False) for a in chosen])
                left = (starts[chosen] + offsets[:, 0]).astype(np.int32)
                right = (starts[chosen] + offsets[:, 1]).astype(np.int32)
                losses.append(float(train_step(left, right)))
            self.embedding = embedding.embeddings.numpy()
            self.question_vectors = self.encode(questions)
            self._log_validation(validation, loss=float(np.mean(losses)))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors [n, dim] (zero for a text with no known feature); numpy only."""
        rows, cols = [], []
        for row, text in enumerate(texts):
            for column in (self._index.get(f) for f in self._features(text)):
                if column is not None:
                    rows.append(row)
                    cols.append(column)
        bag = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(texts), len(self.vocabulary) + 1),
        )
        mean = bag @ self.embedding / np.maximum(np.asarray(bag.sum(axis=1)), 1.0)
        norms = np.linalg.norm(mean, axis=1, keepdims=True)
        return (mean / np.maximum(norms, 1e-12)).astype(np.float32)

    def _question_scores(self, queries):
        return self.encode(queries) @ self.question_vectors.T

    def _get_state(self):
        meta, arrays = self._state()
        return {**meta, "vocabulary": self.vocabulary}, {
            **arrays,
            "embedding": self.embedding,
            "question_vectors": self.question_vectors,
        }

    def _set_state(self, meta, arrays):
        self._set_answer_state(meta, arrays)
        self.vocabulary = list(meta["vocabulary"])
        self._index = {f: i + 1 for i, f in enumerate(self.vocabulary)}
        self.embedding = arrays["embedding"]
        self.question_vectors = arrays["question_vectors"]


@register
class FaqHybrid(TokenMatcher, HybridMatcher):
    """``weight`` * encoder cosine + (1 - ``weight``) * BM25 / the query's best BM25
    (``text_matching.HybridMatcher``'s fusion, its weight tuned by validation MRR), over
    :class:`Bm25sMatcher` and :class:`FaqDualEncoder` sharing one ``chinese`` tokenization."""

    name = "faq_hybrid"

    def _parts(self) -> tuple[dict, dict]:
        """The parts' parameters: the hybrid's ``chinese`` unless a part names its own."""
        chinese = {"chinese": self.params["chinese"]}
        return {**chinese, **self.params["bm25"]}, {**chinese, **self.params["encoder"]}

    def _fit(self, questions, validation) -> None:
        answer_ids = [self.answers[i] for i in self.doc_answer]
        bm25_params, encoder_params = self._parts()
        self.bm25 = Bm25sMatcher(**bm25_params).fit(questions, answer_ids)
        self.encoder = FaqDualEncoder(**encoder_params).fit(questions, answer_ids, validation)
        self.history = type(self.history)(self.encoder.history.to_dict())
        self.weight = float(self.params["weight"])
        if validation is not None:
            self.weight = self._tune_weight(*validation)

    def _set_state(self, meta, arrays):
        self._set_answer_state(meta, arrays)
        self.weight = float(meta["weight"])
        for prefix, cls, params in zip(
            ("bm25", "encoder"), (Bm25sMatcher, FaqDualEncoder), self._parts(), strict=True
        ):
            part = cls(**params)
            part_arrays = {
                k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{prefix}__")
            }
            part._set_state(meta[prefix], part_arrays)
            part.fitted = True
            setattr(self, prefix, part)


FAMILIES: dict[str, type[TokenMatcher]] = {
    "bm25": Bm25sMatcher,
    "dual_encoder": FaqDualEncoder,
    "hybrid": FaqHybrid,
}
