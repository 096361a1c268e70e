"""The Keras models outside top-N (CTR, uplift, link prediction, text matching) are repeatable:
the same ``seed`` trains the same model, another seed a different one."""

from __future__ import annotations

import numpy as np
import pytest

from ml.models.ctr import DeepFM
from ml.models.link_prediction import NodeEmbedding
from ml.models.text_matching import DualEncoderMatcher
from ml.models.uplift import TwoHeadUplift


def deepfm_output(seed: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    numeric, categories = rng.normal(size=(300, 2)), rng.integers(0, 4, (300, 2)).astype(str)
    clicks = (categories[:, 0] == categories[:, 1]).astype(int)
    model = DeepFM(epochs=2, hidden=[8], embedding_dim=4, batch_size=64, seed=seed)
    return model.fit(numeric, categories, clicks).predict_proba(numeric, categories)


def uplift_output(seed: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    X, treated = rng.normal(size=(300, 3)), rng.integers(0, 2, 300)
    responded = (rng.random(300) < 0.2 + 0.3 * treated * (X[:, 0] > 0)).astype(int)
    model = TwoHeadUplift(hidden=[8], epochs=2, batch_size=64, seed=seed)
    return model.fit(X, treated, responded).predict_uplift(X)


def node_embedding_output(seed: int) -> np.ndarray:
    ring = np.array([[node, (node + step) % 30] for node in range(30) for step in (1, 2)])
    model = NodeEmbedding(dim=4, epochs=2, batch_size=32, seed=seed)
    return model.fit(ring).node_vectors()


def dual_encoder_output(seed: int) -> np.ndarray:
    questions = ["card arrive late", "where is my card", "refund my money", "money back refund"]
    model = DualEncoderMatcher(dim=4, epochs=2, batch_size=2, min_count=1, seed=seed)
    return model.fit(questions, ["card", "card", "refund", "refund"]).encode(questions)


@pytest.mark.parametrize(
    "train", [deepfm_output, uplift_output, node_embedding_output, dual_encoder_output]
)
def test_same_seed_trains_the_same_model_and_another_seed_does_not(train):
    first = train(seed=3)
    np.testing.assert_array_equal(train(seed=3), first)
    assert not np.array_equal(train(seed=4), first)
