"""Uplift models: a planted responsive segment, round trip, allocation by hand, bad input."""

import subprocess
import sys

import numpy as np
import pytest

from ml.base import Model
from ml.datasets.common import REPO_ROOT, dataset_path
from ml.metrics.uplift import qini_coefficient, uplift_at_k
from ml.models.uplift import TLearner, TwoHeadUplift, allocate_budget

FAST_TWO_HEAD = {
    "hidden": [16],
    "epochs": 15,
    "learning_rate": 0.01,
    "batch_size": 128,
    "patience": 4,
}


def planted_campaign(n, seed):
    """Only people with feature 0 = 1 respond to the offer (10% -> 40%); feature 1 raises the
    response in both arms alike, so ranking by response (not uplift) would pick the wrong people."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    responsive = rng.random(n) < 0.3
    X[:, 0] = responsive
    treated = rng.random(n) < 0.5
    p = 0.1 + 0.3 * (responsive & treated) + 0.25 * (X[:, 1] > 0.5)
    y = (rng.random(n) < p).astype(int)
    return X, treated.astype(int), y


@pytest.fixture(scope="module")
def data():
    return planted_campaign(4000, seed=0), planted_campaign(2000, seed=1)


@pytest.fixture(scope="module")
def models(data):
    train, valid = data
    return {
        "t_learner": TLearner().fit(*train, validation=valid),
        "two_head": TwoHeadUplift(**FAST_TWO_HEAD).fit(*train, validation=valid),
    }


@pytest.mark.parametrize("kind", ["t_learner", "two_head"])
def test_responsive_segment_is_ranked_first(data, models, kind):
    _, (X, treated, y) = data
    uplift = models[kind].predict_uplift(X)
    responsive = X[:, 0] == 1
    top = np.argsort(-uplift)[: responsive.sum()]
    assert responsive[top].mean() > 0.9
    assert uplift[responsive].mean() == pytest.approx(0.3, abs=0.1)
    assert abs(uplift[~responsive].mean()) < 0.06
    # outcomes are noisy, so compare with ranking by the true (planted) uplift
    oracle = qini_coefficient(y, treated, responsive.astype(float))
    assert qini_coefficient(y, treated, uplift) > 0.85 * oracle > 0.1
    assert uplift_at_k(y, treated, uplift, k=0.3) > 0.2


def test_two_head_history_and_early_stopping_on_qini(models):
    series = models["two_head"].history.series
    assert len(series["loss"]) == len(series["val_qini"]) == len(series["val_loss"])
    assert 1 <= len(series["loss"]) <= FAST_TWO_HEAD["epochs"]


@pytest.mark.parametrize("kind", ["t_learner", "two_head"])
def test_save_load_round_trip_is_identical(tmp_path, data, models, kind):
    _, (X, _, _) = data
    models[kind].save(tmp_path / kind)
    loaded = Model.load(tmp_path / kind)
    assert type(loaded) is type(models[kind])
    np.testing.assert_array_equal(loaded.predict_uplift(X), models[kind].predict_uplift(X))
    treated, control = loaded.predict_arms(X)
    np.testing.assert_allclose(treated - control, loaded.predict_uplift(X))


def test_t_learner_interactions_capture_a_crossed_effect():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6000, 2))
    treated = rng.random(6000) < 0.5
    responsive = (X[:, 0] > 0) == (X[:, 1] > 0)  # an XOR-like segment
    y = (rng.random(6000) < 0.1 + 0.4 * (responsive & treated)).astype(int)
    plain = TLearner().fit(X, treated, y).predict_uplift(X)
    crossed = TLearner(interactions=True).fit(X, treated, y).predict_uplift(X)
    assert qini_coefficient(y, treated, crossed) > qini_coefficient(y, treated, plain) + 0.2


def test_allocation_by_hand():
    # value per cost: person 0 -> 0.30/1, person 1 -> offer 1 0.5/2 or offer 0 0.2/1, person 2 -> 0.1/1
    uplift = np.array([[0.3, 0.0], [0.2, 0.5], [0.1, -0.2]])
    cost = np.array([1.0, 2.0])
    result = allocate_budget(uplift, cost, budget=3.0)
    # ratios: p0/o0 0.30, p1/o1 0.25, p1/o0 0.20, p2/o0 0.10 -> p0 o0 (1), p1 o1 (2) -> budget used
    assert result.offer.tolist() == [0, 1, -1]
    assert result.total_cost == pytest.approx(3.0)
    assert result.expected_value == pytest.approx(0.8)


def test_allocation_skips_negative_uplift_and_unprofitable_offers():
    result = allocate_budget([0.5, -0.1, 0.05], cost=1.0, budget=10.0, value=10.0)
    assert result.offer.tolist() == [0, -1, 0]
    profitable = allocate_budget(
        [0.5, -0.1, 0.05], cost=1.0, budget=10.0, value=10.0, require_profit=True
    )
    assert profitable.offer.tolist() == [0, -1, -1]  # 0.05 * 10 = 0.5 < cost 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uplift": [0.1, np.nan], "cost": 1.0, "budget": 1.0}, "NaN"),
        ({"uplift": [0.1, 0.2], "cost": [1.0, 2.0, 3.0], "budget": 1.0}, "broadcast"),
        ({"uplift": [0.1], "cost": -1.0, "budget": 1.0}, "non-negative"),
        ({"uplift": [0.1], "cost": 1.0, "budget": -5}, "budget"),
        ({"uplift": [], "cost": 1.0, "budget": 1.0}, "non-empty"),
    ],
)
def test_allocation_bad_input_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        allocate_budget(**kwargs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((4, 2)), [1, 0, 1, 2], [0, 1, 0, 1]), "0 \\(control\\) or 1"),
        ((np.zeros((4, 2)), [1, 0, 1, 0], [0, 1, 0, 5]), "0/1 outcomes"),
        ((np.zeros((4, 2)), [1, 1, 1, 1], [0, 1, 0, 1]), "control group needs both"),
        ((np.zeros((4, 2)), [1, 0, 1], [0, 1, 0, 1]), "one value per row"),
        ((np.full((4, 2), np.nan), [1, 0, 1, 0], [0, 1, 0, 1]), "NaN"),
        ((np.zeros(4), [1, 0, 1, 0], [0, 1, 0, 1]), "2-D"),
    ],
)
def test_bad_training_input_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        TLearner().fit(*args)


def test_bad_prediction_input_is_refused(models):
    with pytest.raises(ValueError, match="4 columns"):
        models["t_learner"].predict_uplift(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="call fit"):
        TLearner().predict_uplift(np.zeros((2, 4)))


@pytest.mark.skipif(
    not dataset_path("hillstrom-email-uplift").is_dir(), reason="shared Hillstrom data not found"
)
def test_t_learner_beats_random_on_hillstrom_womens_email():
    from ml.datasets.hillstrom import load_hillstrom

    arm = load_hillstrom().arm("Womens E-Mail", "visit")
    train, test = slice(0, None, 2), slice(1, None, 2)
    model = TLearner().fit(arm.features[train], arm.treatment[train], arm.outcome[train])
    uplift = model.predict_uplift(arm.features[test])
    assert qini_coefficient(arm.outcome[test], arm.treatment[test], uplift) > 0.03


def test_saved_two_head_serves_without_tensorflow(tmp_path, data, models):
    _, (X, _, _) = data
    models["two_head"].save(tmp_path / "model")
    np.save(tmp_path / "X.npy", X)
    script = f"""
import sys
sys.modules["tensorflow"] = None  # any import of TensorFlow or Keras now fails
sys.modules["keras"] = None
import numpy as np
from ml.base import Model
import ml.models.uplift
model = Model.load("{tmp_path}/model")
np.save("{tmp_path}/out.npy", model.predict_uplift(np.load("{tmp_path}/X.npy")))
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO_ROOT, capture_output=True)
    np.testing.assert_array_equal(
        np.load(tmp_path / "out.npy"), models["two_head"].predict_uplift(X)
    )
