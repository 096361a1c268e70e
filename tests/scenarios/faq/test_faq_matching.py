"""The FAQ matchers and their tokens, without Django: Chinese needs no spaces, models round-trip
through save and load, the hybrid fuses BM25 with the TF encoder."""

import numpy as np
import pytest

from ml.base import Model
from ml.models.faq_matching import Bm25sMatcher, FaqDualEncoder, FaqHybrid
from ml.text_tokenize import features, script_of, tokenize

QUESTIONS = [
    ("ship", "How long does shipping take?"),
    ("ship", "When will my parcel arrive?"),
    ("ship", "how many days is delivery"),
    ("return", "How do I return an order?"),
    ("return", "can I send an item back"),
    ("return", "return a product"),
    ("zh-ship", "发货需要多长时间"),
    ("zh-ship", "我的包裹什么时候到"),
    ("zh-ship", "快递几天能到"),
    ("zh-return", "怎么申请退货"),
    ("zh-return", "商品可以退吗"),
    ("zh-return", "退货流程是什么"),
]
KEYS = [key for key, _ in QUESTIONS]
TEXTS = [text for _, text in QUESTIONS]


def test_chinese_text_has_tokens_without_spaces_in_either_mode():
    assert tokenize("我想退货") == ["想", "退", "货", "我想", "想退", "退货"]
    assert "退货" in tokenize("我想退货", chinese="jieba")
    assert tokenize("iPhone15 怎么退货？", chinese="jieba")[:1] == ["iphone15"]
    with pytest.raises(ValueError, match="chinese"):
        tokenize("退货", chinese="spaces")


def test_full_width_text_folds_to_ascii_and_features_include_character_grams():
    assert tokenize("ＳＨＩＰＰＩＮＧ") == tokenize("shipping")
    assert "c:<sh" in features("shipping") and "t:退货" in features("退货")


@pytest.mark.parametrize(
    "text, script",
    [("where is my order", "en"), ("我的订单在哪", "zh"), ("订单 order 在哪", "zh"),
     ("Где мой заказ", "other"), ("12345 ?!", "other")],
)  # fmt: skip
def test_the_script_names_the_language(text, script):
    assert script_of(text) == script


def test_bm25_matches_chinese_and_english_and_round_trips(tmp_path):
    model = Bm25sMatcher().fit(TEXTS, KEYS)
    ids, scores = model.match(["退货怎么办", "parcel delivery days"], 2)
    assert ids[:, 0].tolist() == ["zh-return", "ship"]
    assert (np.diff(scores, axis=1) <= 0).all()
    loaded = Model.load(model.save(tmp_path / "bm25"))
    np.testing.assert_allclose(
        loaded.answer_scores(["退货怎么办"]), model.answer_scores(["退货怎么办"])
    )


def test_a_query_with_no_known_token_scores_zero_everywhere():
    model = Bm25sMatcher().fit(TEXTS, KEYS)
    assert not model.answer_scores(["xyzzy", "Где"]).any()


def test_bad_training_input_is_refused():
    with pytest.raises(ValueError, match="one answer id per question"):
        Bm25sMatcher().fit(TEXTS, KEYS[:-1])
    with pytest.raises(ValueError, match="no words"):
        Bm25sMatcher().fit(["?!", "…"], ["a", "b"])


@pytest.mark.slow
def test_the_hybrid_learns_paraphrases_and_round_trips(tmp_path):
    validation = (["我想退货", "parcel arrival"], ["zh-return", "ship"])
    model = FaqHybrid(encoder={"epochs": 40, "dim": 16}).fit(TEXTS, KEYS, validation)
    assert 0 <= model.weight <= 1
    assert model.match(["商品可以退货吗", "send the item back"], 1)[0][:, 0].tolist() == [
        "zh-return",
        "return",
    ]
    loaded = Model.load(model.save(tmp_path / "hybrid"))
    assert isinstance(loaded.encoder, FaqDualEncoder) and loaded.weight == model.weight
    np.testing.assert_allclose(
        loaded.answer_scores(["退货"]), model.answer_scores(["退货"]), rtol=1e-5
    )
