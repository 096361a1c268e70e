"""Text matchers: planted paraphrase structure, sorted results, round trip, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ml.base import Model
from ml.datasets.common import REPO_ROOT, dataset_path
from ml.metrics.text import accuracy_at_1
from ml.models.text_matching import (
    BM25Matcher,
    DualEncoderMatcher,
    HybridMatcher,
    handoff_threshold,
    pooled_scores,
    tokenize,
)

FAST_ENCODER = {"dim": 16, "epochs": 15, "batch_size": 8, "learning_rate": 0.05, "min_count": 1}
TOPICS = [
    ("card", "arrive", "delivery"),
    ("refund", "return", "money"),
    ("password", "reset", "login"),
    ("transfer", "pending", "bank"),
    ("fee", "charge", "extra"),
    ("address", "change", "update"),
    ("limit", "withdraw", "cash"),
    ("freeze", "stolen", "lost"),
]
FILLER = ["how", "do", "i", "my", "the", "why", "is", "can", "you", "please", "what", "a"]


def planted_faq(n_per_answer, seed):
    """Each answer owns three topic words; a question uses two of them plus filler words."""
    rng = np.random.default_rng(seed)
    questions, answers = [], []
    for answer, words in enumerate(TOPICS):
        for _ in range(n_per_answer):
            chosen = list(rng.choice(words, size=2, replace=False)) + list(
                rng.choice(FILLER, size=4)
            )
            rng.shuffle(chosen)
            questions.append(" ".join(chosen))
            answers.append(f"faq-{answer}")
    return questions, answers


@pytest.fixture(scope="module")
def data():
    return planted_faq(8, seed=0), planted_faq(3, seed=1)


@pytest.fixture(scope="module")
def hybrid(data):
    train, valid = data
    return HybridMatcher(encoder=FAST_ENCODER).fit(*train, validation=valid)


def test_tokenize_stems_plurals_and_gerunds():
    assert tokenize("Cards arriving? Paying FEES, boss") == ["card", "arriv", "pay", "fee", "boss"]


def test_bm25_scores_by_hand():
    model = BM25Matcher(k1=1.2, b=0.0, stem=False).fit(["red apple", "green pear"], [1, 2])
    # one matching term in one of 2 documents: idf = ln(1 + 1.5 / 1.5); tf part = 1
    ids, scores = model.match(["apple"], k=2)
    assert ids.tolist() == [[1, 2]]
    np.testing.assert_allclose(scores, [[np.log(2.0), 0.0]], rtol=1e-6)


@pytest.mark.parametrize("kind", ["bm25", "encoder", "hybrid"])
def test_planted_answers_are_recovered_and_sorted(data, hybrid, kind):
    train, valid = data
    model = {"bm25": hybrid.bm25, "encoder": hybrid.encoder, "hybrid": hybrid}[kind]
    ids, scores = model.match(valid[0], k=3)
    assert ids.shape == scores.shape == (len(valid[0]), 3)
    assert (np.diff(scores, axis=1) <= 0).all()
    assert accuracy_at_1(ids, valid[1]) >= 0.9


def test_encoder_learns_that_topic_words_are_paraphrases(hybrid):
    # "arrive" and "delivery" never need to co-occur in the query: the encoder maps a query
    # with one topic word to that topic's answer
    ids, _ = hybrid.encoder.match(["delivery", "stolen", "withdraw"], k=1)
    assert ids[:, 0].tolist() == ["faq-0", "faq-7", "faq-6"]
    vectors = hybrid.encoder.encode(["card arrive", "card delivery", "refund money"])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_hybrid_weight_is_tuned_and_history_recorded(hybrid):
    assert 0.0 <= hybrid.weight <= 1.0
    assert len(hybrid.history.series["val_mrr"]) == 11
    assert len(hybrid.history.series["loss"]) == FAST_ENCODER["epochs"]
    assert hybrid.history.series["loss"][-1] < hybrid.history.series["loss"][0]


def test_confidence_is_lower_for_off_topic_queries(hybrid):
    on_topic = hybrid.confidence(["reset my password login", "refund money return"])
    off_topic = hybrid.confidence(["how do i the", "zebra quantum"])
    assert on_topic.min() > off_topic.max()
    assert ((on_topic > 0) & (on_topic <= 1)).all()


def test_handoff_threshold_by_hand():
    confidence = [0.9, 0.8, 0.7, 0.6]
    correct = [True, True, False, True]
    assert handoff_threshold(confidence, correct, 1.0) == pytest.approx(0.8)
    assert handoff_threshold(confidence, correct, 0.75) == pytest.approx(0.6)
    assert handoff_threshold([0.5, 0.5], [True, False], 1.0) == float("inf")


@pytest.mark.parametrize("kind", ["bm25", "encoder", "hybrid"])
def test_save_load_round_trip_is_identical(tmp_path, data, hybrid, kind):
    model = {"bm25": hybrid.bm25, "encoder": hybrid.encoder, "hybrid": hybrid}[kind]
    model.save(tmp_path / kind)
    loaded = Model.load(tmp_path / kind)
    assert type(loaded) is type(model)
    queries = data[1][0]
    for got, expected in zip(loaded.match(queries, 3), model.match(queries, 3), strict=True):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(loaded.confidence(queries), model.confidence(queries))


def test_integer_answer_ids_come_back_as_integers_and_k_pads():
    model = BM25Matcher().fit(["open account", "close account"], [10, 20])
    ids, scores = model.match(["open"], k=3)
    assert ids.dtype.kind == "i" and ids.tolist() == [[10, 20, -1]]
    assert scores[0, 2] == -np.inf


@pytest.mark.parametrize(
    ("questions", "answers", "message"),
    [
        ([], [], "must not be empty"),
        ("one question", [1], "list of strings"),
        (["a b", "c d"], [1], "one answer id per question"),
        (["a b", None], [1, 2], r"questions\[1\] is not a string"),
        (["a b", "c d"], [1, "x"], "all strings or all integers"),
        (["a b", "c d"], [1, 2.5], "string or an integer"),
        (["?!", "..."], [1, 2], "no words"),
    ],
)
def test_bad_training_input_is_refused(questions, answers, message):
    with pytest.raises(ValueError, match=message):
        BM25Matcher().fit(questions, answers)


def test_bad_query_input_is_refused(hybrid):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        hybrid.match(["card"], k=0)
    with pytest.raises(ValueError, match="list of strings"):
        hybrid.match("card", k=1)
    with pytest.raises(ValueError, match="call fit"):
        BM25Matcher().match(["card"])
    with pytest.raises(ValueError, match="two or more questions"):
        DualEncoderMatcher().fit(["a b", "c d"], [1, 2])


@pytest.mark.skipif(
    not dataset_path("banking77").is_dir(), reason="shared banking77 data not found"
)
def test_bm25_on_a_slice_of_banking77():
    from ml.datasets.banking77 import load_banking77

    data = load_banking77()
    model = BM25Matcher().fit(data.train_texts[::4], data.train_labels[::4])
    ids, _ = model.match(data.test_texts[::10], k=3)
    assert accuracy_at_1(ids, data.test_labels[::10]) > 0.6


def test_hybrid_from_parts_matches_fitted_hybrid(data, hybrid):
    _, valid = data
    fused = HybridMatcher.from_parts(hybrid.bm25, hybrid.encoder, validation=valid)
    assert fused.weight == hybrid.weight
    for got, expected in zip(fused.match(valid[0], 3), hybrid.match(valid[0], 3), strict=True):
        np.testing.assert_array_equal(got, expected)
    other = BM25Matcher().fit(["x y", "z w"], [1, 2])
    with pytest.raises(ValueError, match="same answers"):
        HybridMatcher.from_parts(other, hybrid.encoder)


def test_saved_hybrid_serves_without_tensorflow(tmp_path, data, hybrid):
    queries = data[1][0]
    hybrid.save(tmp_path / "model")
    (tmp_path / "queries.json").write_text(json.dumps(queries))
    script = f"""
import json, sys
sys.modules["tensorflow"] = None  # any import of TensorFlow or Keras now fails
sys.modules["keras"] = None
import numpy as np
from ml.base import Model
import ml.models.text_matching
queries = json.loads(open("{tmp_path}/queries.json").read())
ids, scores = Model.load("{tmp_path}/model").match(queries, 3)
np.savez("{tmp_path}/out.npz", ids=ids, scores=scores)
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO_ROOT, capture_output=True)
    out = np.load(tmp_path / "out.npz")
    ids, scores = hybrid.match(queries, 3)
    np.testing.assert_array_equal(out["ids"], ids)
    np.testing.assert_array_equal(out["scores"], scores)


def test_pooled_scores_average_each_segments_best_by_hand():
    scores = np.array([[5.0, 1.0, 3.0, 2.0, -4.0, 9.0], [0.0, 0.0, 7.0, -1.0, 6.0, 2.0]])
    starts = np.array([0, 1, 5])  # segments: [0], [1..4], [5]
    np.testing.assert_allclose(
        pooled_scores(scores, starts, 2), [[5.0, 2.5, 9.0], [0.0, 6.5, 2.0]], rtol=1e-6
    )
    np.testing.assert_allclose(pooled_scores(scores, starts, 10)[:, 1], [0.5, 3.0], rtol=1e-6)


def test_answer_pool_scores_an_answer_by_its_best_questions():
    questions = ["red card", "red card", "blue sky", "card lost", "pin code", "pin card"]
    answers = ["a", "a", "a", "b", "b", "b"]
    best = BM25Matcher().fit(questions, answers)
    pooled = BM25Matcher(answer_pool=2).fit(questions, answers)
    question_scores = best._question_scores(["red card"])[0]
    by_answer = [sorted(question_scores[best.doc_answer == i])[::-1] for i in range(2)]
    np.testing.assert_allclose(best.answer_scores(["red card"])[0], [s[0] for s in by_answer])
    np.testing.assert_allclose(
        pooled.answer_scores(["red card"])[0], [np.mean(s[:2]) for s in by_answer], rtol=1e-6
    )
    with pytest.raises(ValueError, match="answer_pool"):
        BM25Matcher(answer_pool=0).fit(questions, answers)


def test_towers_are_an_ensemble_whose_cosine_is_the_towers_mean(tmp_path, data):
    train, valid = data
    one = DualEncoderMatcher(**FAST_ENCODER).fit(*train)
    two = DualEncoderMatcher(**FAST_ENCODER, towers=2).fit(*train, validation=valid)
    other = DualEncoderMatcher(**FAST_ENCODER, seed=1).fit(*train)
    assert two.embedding.shape[1] == 2 * FAST_ENCODER["dim"]
    np.testing.assert_allclose(two.embedding[:, : FAST_ENCODER["dim"]], one.embedding)
    queries = valid[0]
    mean = (one._question_scores(queries) + other._question_scores(queries)) / 2
    np.testing.assert_allclose(two._question_scores(queries), mean, atol=1e-5)
    assert len(two.history.to_dict()["val_accuracy@1"]) == 2 * FAST_ENCODER["epochs"]
    two.save(tmp_path / "towers")
    np.testing.assert_array_equal(
        Model.load(tmp_path / "towers").answer_scores(queries), two.answer_scores(queries)
    )
