"""FAQ / intent matching: BM25, a TensorFlow dual encoder, and a hybrid of the two.

Every matcher is fitted on known questions, each labelled with the answer (FAQ entry, intent)
it belongs to; several questions may share an answer. A query's score for an answer is its
best score against that answer's questions. ``match`` returns the top-k answer ids and scores,
best first; ``confidence`` gives the softmax probability of the best answer, which a support
desk thresholds (see ``handoff_threshold``) to hand uncertain queries to a human.

Serving needs numpy only: BM25 is a sparse term-weight matrix, the encoder an embedding table,
and the vocabularies are JSON lists.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.base import Model, register, top_n
from ml.models.common import seed_tensorflow

_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    """A deliberately tiny suffix stripper: enough to match "cards"/"card", "paying"/"pay"."""
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + replacement
    return word


def tokenize(text: str, stem: bool = True) -> list[str]:
    """Lower-cased alphanumeric words, optionally stemmed."""
    words = _WORD.findall(text.lower())
    return [_stem(w) for w in words] if stem else words


def _check_texts(texts, what: str) -> list[str]:
    if isinstance(texts, str) or not hasattr(texts, "__len__"):
        raise ValueError(f"{what} must be a list of strings")
    texts = list(texts)
    if not texts:
        raise ValueError(f"{what} must not be empty")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"{what}[{i}] is not a string")
    return texts


def pooled_scores(scores: np.ndarray, starts: np.ndarray, pool: int) -> np.ndarray:
    """Per segment of columns (``starts``: each segment's first column, ascending), the mean of
    its ``pool`` largest values in each row; a segment of fewer columns averages them all.

    One sort per row: columns are ordered by segment, then by value (descending) inside it, so
    every segment keeps its place and its first ``pool`` columns are its best."""
    scores = np.asarray(scores, dtype=np.float64)
    n_columns = scores.shape[1]
    sizes = np.diff(np.r_[starts, n_columns])
    segment = np.repeat(np.arange(len(starts)), sizes)
    low, high = scores.min(initial=0.0), scores.max(initial=0.0)
    keys = segment * (high - low + 1.0) + (high - scores)  # segment first, best value first
    ordered = np.take_along_axis(scores, np.argsort(keys, axis=1, kind="stable"), axis=1)
    kept = (np.arange(n_columns) - np.repeat(starts, sizes)) < pool
    sums = np.add.reduceat(np.where(kept, ordered, 0.0), starts, axis=1)
    return (sums / np.minimum(sizes, pool)).astype(np.float32)


class TextMatcher(Model):
    """Shared bookkeeping: answer ids, max-over-questions aggregation, top-k, confidence."""

    family = "text_matching"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        # answer_pool: an answer's score is the mean of its ``answer_pool`` best question scores
        # (1: the best alone; an answer with fewer questions averages all it has)
        return {"temperature": 1.0, "answer_pool": 1}

    def fit(self, questions, answer_ids, validation=None) -> TextMatcher:
        """Fit on known ``questions`` and the answer id of each.

        ``validation`` = (queries, answer ids) is scored per epoch (and tunes the hybrid).
        """
        questions = _check_texts(questions, "questions")
        answer_ids = list(answer_ids) if not isinstance(answer_ids, str) else None
        if answer_ids is None or len(answer_ids) != len(questions):
            raise ValueError("answer_ids must be a list with one answer id per question")
        for i, answer in enumerate(answer_ids):
            if not isinstance(answer, (str, int, np.integer)) or isinstance(answer, bool):
                raise ValueError(f"answer_ids[{i}] must be a string or an integer")
        pool = self.params.get("answer_pool", 1)
        if not isinstance(pool, (int, np.integer)) or isinstance(pool, bool) or pool < 1:
            raise ValueError("answer_pool must be a positive integer")
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
        questions = [questions[i] for i in order]
        self.history = type(self.history)()
        self._fit(questions, validation)
        self.fitted = True
        return self

    def tokens(self, text: str) -> list[str]:
        """The words a question must have some of (a subclass may read other scripts)."""
        return tokenize(text)

    def _set_answers(self, answer_ids: list) -> None:
        kinds = {isinstance(a, str) for a in answer_ids}
        if len(kinds) > 1:
            raise ValueError("answer_ids must be all strings or all integers")
        values = [a if isinstance(a, str) else int(a) for a in answer_ids]
        self.answers = list(dict.fromkeys(values))
        position = {a: i for i, a in enumerate(self.answers)}
        self.doc_answer = np.array([position[a] for a in values], dtype=np.int64)

    def _segment_starts(self) -> np.ndarray:
        return np.r_[0, np.nonzero(np.diff(self.doc_answer))[0] + 1]

    def answer_scores(self, queries) -> np.ndarray:
        """Scores [n_queries, n_answers]: the best score over each answer's questions, or the
        mean of the ``answer_pool`` best."""
        self._require_fitted()
        queries = _check_texts(queries, "queries")
        question_scores = self._question_scores(queries)
        pool = int(self.params.get("answer_pool", 1))
        if pool == 1:
            return np.maximum.reduceat(question_scores, self._segment_starts(), axis=1)
        return pooled_scores(question_scores, self._segment_starts(), pool)

    def _answer_array(self, indices: np.ndarray) -> np.ndarray:
        answers = np.array(self.answers)
        ids = answers[np.maximum(indices, 0)]
        if ids.dtype.kind in "iu":
            return np.where(indices >= 0, ids, -1)
        return np.where(indices >= 0, ids, "")

    def match(self, queries, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` answer ids [n, k] and scores [n, k], best first."""
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError("k must be a positive integer")
        indices, scores = top_n(self.answer_scores(queries).astype(np.float32), k)
        return self._answer_array(indices), scores

    def confidence(self, queries) -> np.ndarray:
        """Probability of the best answer: softmax of answer scores / ``temperature``."""
        scores = self.answer_scores(queries) / self.params["temperature"]
        scores = scores - scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        return 1.0 / weights.sum(axis=1)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"answers": self.answers}, {"doc_answer": self.doc_answer}

    def _set_answer_state(self, meta, arrays) -> None:
        self.answers = list(meta["answers"])
        self.doc_answer = arrays["doc_answer"]

    def _fit(self, questions: list[str], validation) -> None:
        raise NotImplementedError

    def _question_scores(self, queries: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _log_validation(self, validation, **entry: float) -> None:
        """Record one epoch: the given values plus validation accuracy@1 when available."""
        if validation is not None:
            was_fitted, self.fitted = self.fitted, True
            try:
                ids, _ = self.match(validation[0], 1)
            finally:
                self.fitted = was_fitted
            expected = [a if isinstance(a, str) else int(a) for a in validation[1]]
            entry["val_accuracy@1"] = float(
                np.mean([i == e for i, e in zip(ids[:, 0].tolist(), expected, strict=True)])
            )
        self.history.log(**entry)


def handoff_threshold(confidence, correct, target_accuracy: float = 0.9) -> float:
    """Lowest confidence threshold at which the answered queries reach ``target_accuracy``.

    Queries below the threshold go to a human. Chosen on validation data; returns ``inf``
    (hand everything over) when no threshold reaches the target.
    """
    confidence = np.asarray(confidence, dtype=np.float64).reshape(-1)
    correct = np.asarray(correct, dtype=bool).reshape(-1)
    if confidence.shape != correct.shape or confidence.size == 0:
        raise ValueError("confidence and correct must be non-empty and of equal length")
    if not 0 < target_accuracy <= 1:
        raise ValueError("target_accuracy must be in (0, 1]")
    order = np.argsort(-confidence, kind="stable")
    accuracy = np.cumsum(correct[order]) / np.arange(1, correct.size + 1)
    # answering the top i queries is allowed only if no tie splits them from the next one
    cut_ok = np.r_[confidence[order][:-1] > confidence[order][1:], True]
    good = np.nonzero((accuracy >= target_accuracy) & cut_ok)[0]
    return float(confidence[order][good[-1]]) if good.size else float("inf")


@register
class BM25Matcher(TextMatcher):
    """Okapi BM25 of the query against every known question (``k1``, ``b`` as usual)."""

    name = "bm25"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {**super().default_params(), "k1": 1.2, "b": 0.75, "stem": True}

    def _fit(self, questions, validation) -> None:
        tokens = [tokenize(q, self.params["stem"]) for q in questions]
        self.vocabulary = sorted({t for doc in tokens for t in doc})
        self._index = {t: i for i, t in enumerate(self.vocabulary)}
        counts = self._term_counts(tokens, self._index)
        n_docs = counts.shape[0]
        doc_length = np.asarray(counts.sum(axis=1)).ravel()
        avg_length = max(doc_length.mean(), 1e-9)
        df = np.bincount(counts.indices, minlength=len(self.vocabulary))
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        k1, b = self.params["k1"], self.params["b"]
        tf = counts.tocoo()
        norm = k1 * (1 - b + b * doc_length[tf.row] / avg_length)
        weight = idf[tf.col] * tf.data * (k1 + 1) / (tf.data + norm)
        self.weights = sp.csr_matrix(
            (weight, (tf.row, tf.col)), shape=counts.shape, dtype=np.float32
        )
        self._log_validation(validation, documents=n_docs)

    @staticmethod
    def _term_counts(tokens: list[list[str]], index: dict[str, int]) -> sp.csr_matrix:
        rows, cols = [], []
        for r, doc in enumerate(tokens):
            for t in doc:
                if t in index:
                    rows.append(r)
                    cols.append(index[t])
        data = np.ones(len(rows), dtype=np.float32)
        matrix = sp.csr_matrix((data, (rows, cols)), shape=(len(tokens), len(index)))
        matrix.sum_duplicates()
        return matrix

    def _question_scores(self, queries):
        # BM25 counts each distinct query term once
        tokens = [sorted(set(tokenize(q, self.params["stem"]))) for q in queries]
        query_terms = self._term_counts(tokens, self._index)
        return np.asarray((query_terms @ self.weights.T).todense(), dtype=np.float32)

    def _get_state(self):
        meta, arrays = self._state()
        w = self.weights
        return {**meta, "vocabulary": self.vocabulary}, {
            **arrays,
            "w_data": w.data,
            "w_indices": w.indices,
            "w_indptr": w.indptr,
        }

    def _set_state(self, meta, arrays):
        self._set_answer_state(meta, arrays)
        self.vocabulary = list(meta["vocabulary"])
        self._index = {t: i for i, t in enumerate(self.vocabulary)}
        shape = (len(arrays["doc_answer"]), len(self.vocabulary))
        self.weights = sp.csr_matrix(
            (arrays["w_data"], arrays["w_indices"], arrays["w_indptr"]), shape=shape
        )


def text_features(text: str, max_features: int) -> list[str]:
    """Stemmed words, word bigrams and character 3/4-grams of each word (typo-tolerant), in
    that order, cut at ``max_features`` (long answers keep their words and bigrams first)."""
    words = tokenize(text, stem=False)
    features = [f"w:{_stem(w)}" for w in words]
    features += [f"b:{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
    for word in words:
        if len(features) >= max_features:
            break
        padded = f"<{word}>"
        for n in (3, 4):
            features += [f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    return features[:max_features]


@register
class DualEncoderMatcher(TextMatcher):
    """A shared text tower (mean of learned n-gram embeddings, L2-normalised) trained so that
    questions with the same answer land close together.

    Each training step draws ``batch_size`` different answers and two different questions of
    each; the two sides of the batch form positive pairs on the diagonal and every other answer
    in the batch is a negative (in-batch softmax with temperature ``train_temperature``, both
    directions). Answers with one question only still serve as matching targets.

    ``towers`` > 1 trains that many towers from seeds ``seed``, ``seed`` + 1, ...: a text's
    vector is their unit vectors side by side, scaled by 1 / sqrt(towers), so a cosine is the
    mean of the towers' cosines (an ensemble served as one embedding table).
    """

    name = "dual_encoder"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            **super().default_params(),
            "temperature": 0.05,
            "dim": 64,
            "min_count": 2,
            "max_features": 300,
            "epochs": 10,
            "batch_size": 64,
            "learning_rate": 0.01,
            "train_temperature": 0.05,
            "seed": 0,
            "towers": 1,
        }

    def _fit(self, questions, validation) -> None:
        p = self.params
        if not isinstance(p["towers"], (int, np.integer)) or p["towers"] < 1:
            raise ValueError("towers must be a positive integer")
        features = [self._features(q) for q in questions]
        counts = Counter(f for feats in features for f in set(feats))
        self.vocabulary = sorted(f for f, c in counts.items() if c >= p["min_count"])
        self._index = {f: i + 1 for i, f in enumerate(self.vocabulary)}  # 0 = padding
        ids = self._padded_ids(features)
        question_bag = self._bag(features)
        starts = self._segment_starts()
        sizes = np.diff(np.r_[starts, len(questions)])
        eligible = np.nonzero(sizes >= 2)[0]
        if eligible.size < 2:
            raise ValueError(
                "the dual encoder needs at least two answers with two or more questions"
            )
        batch = min(p["batch_size"], eligible.size)
        trained: list[np.ndarray] = []
        for tower in range(p["towers"]):
            trained.append(
                self._fit_tower(
                    p["seed"] + tower, ids, question_bag, starts, sizes, eligible, batch,
                    trained, validation,
                )
            )  # fmt: skip

    def _fit_tower(
        self, seed, ids, question_bag, starts, sizes, eligible, batch, trained, validation
    ) -> np.ndarray:
        """Train one tower; each epoch serves it beside the ``trained`` ones (validation is the
        ensemble so far). Returns its embedding table."""
        import keras
        import tensorflow as tf

        p = self.params
        seed_tensorflow(seed)
        rng = np.random.default_rng(seed)
        embedding = keras.layers.Embedding(
            len(self.vocabulary) + 1,
            p["dim"],
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1),
        )
        embedding.build((None,))
        optimizer = keras.optimizers.Adam(p["learning_rate"])
        ids_tensor = tf.constant(ids)

        def encode(rows):
            batch_ids = tf.gather(ids_tensor, rows)
            mask = tf.cast(batch_ids > 0, tf.float32)[..., None]
            summed = tf.reduce_sum(embedding(batch_ids) * mask, axis=1)
            mean = summed / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
            return tf.math.l2_normalize(mean, axis=1)

        @tf.function
        def train_step(left, right):
            with tf.GradientTape() as tape:
                logits = (
                    tf.matmul(encode(left), encode(right), transpose_b=True)
                    / p["train_temperature"]
                )
                labels = tf.range(tf.shape(logits)[0])
                loss = (
                    tf.reduce_mean(
                        tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
                        + tf.nn.sparse_softmax_cross_entropy_with_logits(
                            labels, tf.transpose(logits)
                        )
                    )
                    / 2
                )
            variables = embedding.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            return loss

        steps = max(1, int(sizes[eligible].sum()) // (2 * batch))
        for _ in range(p["epochs"]):
            losses = []
            for _ in range(steps):
                chosen = rng.choice(eligible, size=batch, replace=False)
                offsets = np.array([rng.choice(sizes[a], size=2, replace=False) for a in chosen])
                left = (starts[chosen] + offsets[:, 0]).astype(np.int32)
                right = (starts[chosen] + offsets[:, 1]).astype(np.int32)
                losses.append(float(train_step(left, right)))
            self.embedding = np.concatenate([*trained, embedding.embeddings.numpy()], axis=1)
            self.question_vectors = self._embed(question_bag)
            self._log_validation(validation, loss=float(np.mean(losses)))
        return embedding.embeddings.numpy()

    def _features(self, text: str) -> list[str]:
        return text_features(text, self.params["max_features"])

    def _padded_ids(self, features: list[list[str]]) -> np.ndarray:
        rows = [[self._index[f] for f in feats if f in self._index] for feats in features]
        width = max(1, max(len(r) for r in rows))
        ids = np.zeros((len(rows), width), dtype=np.int32)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
        return ids

    def _bag(self, features: list[list[str]]) -> sp.csr_matrix:
        """Feature counts [texts, vocabulary + 1] (column 0, padding, stays empty)."""
        rows, cols = [], []
        for r, feats in enumerate(features):
            for f in feats:
                column = self._index.get(f)
                if column is not None:
                    rows.append(r)
                    cols.append(column)
        return sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(features), len(self.vocabulary) + 1),
        )

    def _embed(self, bag: sp.csr_matrix) -> np.ndarray:
        mean = bag @ self.embedding / np.maximum(np.asarray(bag.sum(axis=1)), 1.0)
        towers = self.embedding.shape[1] // self.params["dim"]
        if towers > 1:  # each tower's part a unit vector, the whole one too
            parts = mean.reshape(len(mean), towers, -1)
            norms = np.linalg.norm(parts, axis=2, keepdims=True)
            unit = parts / np.maximum(norms, 1e-12) / np.sqrt(towers)
            return unit.reshape(len(mean), -1).astype(np.float32)
        norms = np.linalg.norm(mean, axis=1, keepdims=True)
        return (mean / np.maximum(norms, 1e-12)).astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors [n, dim] (zero for a text with no known feature); numpy only."""
        return self._embed(self._bag([self._features(t) for t in texts]))

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
class HybridMatcher(TextMatcher):
    """Score fusion: ``weight`` * encoder cosine + (1 - ``weight``) * BM25 / the query's best BM25.

    Dividing BM25 by the query's best score puts both on a comparable [0, 1] scale. With a
    validation set, ``weight`` is chosen from 0, 0.1, ..., 1 by mean reciprocal rank.
    """

    name = "hybrid_matcher"
    bm25_class: type[TextMatcher] = BM25Matcher
    encoder_class: type[TextMatcher] = DualEncoderMatcher

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {
            **super().default_params(),
            "temperature": 0.05,
            "weight": 0.5,
            "bm25": {},
            "encoder": {},
        }

    def _parts(self) -> tuple[dict, dict]:
        """The keyword arguments of the BM25 and the encoder part."""
        return self.params["bm25"], self.params["encoder"]

    def _fit(self, questions, validation) -> None:
        answer_ids = [self.answers[i] for i in self.doc_answer]
        bm25_params, encoder_params = self._parts()
        self.bm25 = self.bm25_class(**bm25_params).fit(questions, answer_ids)
        self.encoder = self.encoder_class(**encoder_params).fit(questions, answer_ids, validation)
        self.history = type(self.history)(self.encoder.history.to_dict())
        self.weight = float(self.params["weight"])
        if validation is not None:
            self.weight = self._tune_weight(*validation)

    @classmethod
    def from_parts(
        cls, bm25: BM25Matcher, encoder: DualEncoderMatcher, validation=None
    ) -> HybridMatcher:
        """Fuse two matchers already fitted on the same answers (no retraining; their texts may
        differ, e.g. each on its best layout); ``validation`` = (queries, answer ids) tunes the
        weight as in ``fit``."""
        for part in (bm25, encoder):
            part._require_fitted()
        if bm25.answers != encoder.answers:
            raise ValueError(
                "bm25 and encoder must be fitted on the same answers, in the same order"
            )
        model = cls(bm25=bm25.params, encoder=encoder.params)
        model.answers, model.doc_answer = list(encoder.answers), encoder.doc_answer
        model.bm25, model.encoder = bm25, encoder
        model.history = type(model.history)(encoder.history.to_dict())
        model.weight = float(model.params["weight"])
        if validation is not None:
            model.weight = model._tune_weight(*validation)
        model.fitted = True
        return model

    def _tune_weight(self, queries, expected) -> float:
        dense, lexical = self.encoder.answer_scores(queries), self._scaled_bm25(queries)
        position = {a: i for i, a in enumerate(self.answers)}
        target = np.array([position.get(a if isinstance(a, str) else int(a), -1) for a in expected])
        known = target >= 0
        best_weight, best_mrr = self.weight, -1.0
        for weight in np.linspace(0.0, 1.0, 11):
            fused = weight * dense[known] + (1 - weight) * lexical[known]
            correct = fused[np.arange(known.sum()), target[known]]
            ranks = 1 + (fused > correct[:, None]).sum(axis=1)
            mrr = float(np.mean(1.0 / ranks))
            self.history.log(fusion_weight=weight, val_mrr=mrr)
            if mrr > best_mrr:
                best_weight, best_mrr = float(weight), mrr
        return best_weight

    def _scaled_bm25(self, queries) -> np.ndarray:
        scores = self.bm25.answer_scores(queries)
        return scores / np.maximum(scores.max(axis=1, keepdims=True), 1e-9)

    def answer_scores(self, queries) -> np.ndarray:
        self._require_fitted()
        queries = _check_texts(queries, "queries")
        dense = self.encoder.answer_scores(queries)
        return self.weight * dense + (1 - self.weight) * self._scaled_bm25(queries)

    def _get_state(self):
        meta, arrays = self._state()
        parts = {"bm25": self.bm25._get_state(), "encoder": self.encoder._get_state()}
        for prefix, (part_meta, part_arrays) in parts.items():
            meta[prefix] = part_meta
            arrays.update({f"{prefix}__{k}": v for k, v in part_arrays.items()})
        return {**meta, "weight": self.weight}, arrays

    def _set_state(self, meta, arrays):
        self._set_answer_state(meta, arrays)
        self.weight = float(meta["weight"])
        for prefix, cls, params in zip(
            ("bm25", "encoder"), (self.bm25_class, self.encoder_class), self._parts(), strict=True
        ):
            part = cls(**params)
            part_arrays = {
                k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{prefix}__")
            }
            part._set_state(meta[prefix], part_arrays)
            part.fitted = True
            setattr(self, prefix, part)
