"""FAQ matching for Chinese and English: BM25 on bm25s, a TensorFlow dual encoder and a hybrid.

The matchers of :mod:`ml.models.text_matching` read ASCII words only, so a Chinese question has
no tokens there. These keep their interface (``fit``, ``match``, ``answer_scores``,
``confidence``, save and load) and read :mod:`ml.text_tokenize` tokens instead, with the
Chinese tokenization (``chinese``: jieba words or character bigrams) a hyperparameter.

Serving needs numpy only: the BM25 index is bm25s's sparse token x question score matrix, the
encoder an embedding table and the question vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.base import register
from ml.models.text_matching import DualEncoderMatcher, HybridMatcher, TextMatcher
from ml.search import Choice, LogUniform
from ml.text_tokenize import CHINESE_MODES, features, tokenize


class TokenMatcher(TextMatcher):
    """A text matcher over :func:`ml.text_tokenize.tokenize` tokens."""

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {**super().default_params(), "chinese": "bigram"}

    def fit(self, questions, answer_ids, validation=None) -> TokenMatcher:
        """As :meth:`TextMatcher.fit`; a question of Chinese characters alone has words."""
        if self.params["chinese"] not in CHINESE_MODES:
            raise ValueError(f"chinese must be one of {CHINESE_MODES}")
        return super().fit(questions, answer_ids, validation)

    def tokens(self, text: str) -> list[str]:
        return tokenize(text, self.params["chinese"])


@register
class Bm25sMatcher(TokenMatcher):
    """Okapi BM25 (bm25s, Lucene variant) of the query against every known question."""

    name = "faq_bm25"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {**super().default_params(), "k1": 1.2, "b": 0.75}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        return {"k1": LogUniform(0.5, 2.0), "b": LogUniform(0.3, 1.0)}

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
class FaqDualEncoder(TokenMatcher, DualEncoderMatcher):
    """``text_matching.DualEncoderMatcher`` (its tower, in-batch softmax training and numpy
    serving) over :func:`ml.text_tokenize.features`: tokens of either script, English word
    bigrams and character 3-grams; every feature kept (a small FAQ sees most words once)."""

    name = "faq_dual_encoder"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {**super().default_params(), "min_count": 1, "epochs": 30}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        # Small towers and few epochs: a fit stays seconds on an FAQ of hundreds of texts.
        return {
            "dim": Choice((32, 64)),
            "epochs": Choice((10, 20)),
            "learning_rate": LogUniform(3e-3, 3e-2),
        }

    def _features(self, text: str) -> list[str]:
        return features(text, self.params["chinese"], self.params["max_features"])


@register
class FaqHybrid(TokenMatcher, HybridMatcher):
    """``weight`` * encoder cosine + (1 - ``weight``) * BM25 / the query's best BM25
    (``text_matching.HybridMatcher``'s fusion, its weight tuned by validation MRR), over
    :class:`Bm25sMatcher` and :class:`FaqDualEncoder` sharing one ``chinese`` tokenization."""

    name = "faq_hybrid"

    bm25_class = Bm25sMatcher
    encoder_class = FaqDualEncoder

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """The parts' settings (``weight`` is left out: ``fit`` tunes it on the validation)."""
        return {
            "bm25": Choice(({}, {"k1": 0.9, "b": 0.4}, {"k1": 1.6, "b": 0.9})),
            "encoder": Choice(
                tuple({"dim": dim, "epochs": epochs} for dim in (32, 64) for epochs in (10, 20))
            ),
        }

    def _parts(self) -> tuple[dict, dict]:
        """The parts' parameters: the hybrid's ``chinese`` unless a part names its own."""
        chinese = {"chinese": self.params["chinese"]}
        return {**chinese, **self.params["bm25"]}, {**chinese, **self.params["encoder"]}


FAMILIES: dict[str, type[TokenMatcher]] = {
    "bm25": Bm25sMatcher,
    "dual_encoder": FaqDualEncoder,
    "hybrid": FaqHybrid,
}
