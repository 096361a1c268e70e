"""CTR models: planted feature interaction, numpy-only round trip, bad input."""

import subprocess
import sys

import numpy as np
import pytest

from ml.base import Model
from ml.datasets.common import REPO_ROOT, dataset_path
from ml.metrics.classification import log_loss, roc_auc
from ml.models.ctr import DeepFM, LogisticCTR, fit_logistic

FAST_DEEPFM = {
    "epochs": 20,
    "hidden": [16],
    "embedding_dim": 4,
    "learning_rate": 0.02,
    "batch_size": 128,
}


def planted_interaction(n, seed):
    """Clicks depend on whether two categorical fields agree in parity: an interaction no
    additive (logistic) model can express, plus a small numeric main effect."""
    rng = np.random.default_rng(seed)
    categories = rng.integers(0, 4, size=(n, 3))
    numeric = rng.normal(size=(n, 2))
    logit = np.where(categories[:, 0] % 2 == categories[:, 1] % 2, 1.5, -1.5) + 0.5 * numeric[:, 0]
    clicks = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return numeric, categories.astype(str), clicks


@pytest.fixture(scope="module")
def data():
    return planted_interaction(3000, seed=0), planted_interaction(1000, seed=1)


@pytest.fixture(scope="module")
def deepfm(data):
    train, valid = data
    return DeepFM(**FAST_DEEPFM).fit(*train, validation=valid)


def test_fit_logistic_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 2))
    y = (rng.random(20000) < 1 / (1 + np.exp(-(2 * X[:, 0] - X[:, 1] + 0.5)))).astype(float)
    w, b = fit_logistic(X, y, l2=0.0)
    np.testing.assert_allclose(w, [2, -1], atol=0.1)
    assert b == pytest.approx(0.5, abs=0.08)


def test_deepfm_learns_the_interaction_logistic_regression_cannot(data, deepfm):
    train, valid = data
    logistic = LogisticCTR().fit(*train, validation=valid)
    auc_lr = roc_auc(valid[2], logistic.predict_proba(valid[0], valid[1]))
    auc_fm = roc_auc(valid[2], deepfm.predict_proba(valid[0], valid[1]))
    assert auc_lr < 0.65  # only the numeric main effect is visible to it
    assert auc_fm > 0.8 and auc_fm > auc_lr + 0.15
    assert log_loss(valid[2], deepfm.predict_proba(valid[0], valid[1])) < 0.55


@pytest.mark.parametrize("kind", ["deepfm", "logistic"])
def test_save_load_round_trip_is_identical(tmp_path, data, deepfm, kind):
    train, valid = data
    model = deepfm if kind == "deepfm" else LogisticCTR().fit(*train)
    model.save(tmp_path / "m")
    loaded = Model.load(tmp_path / "m")
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(
        loaded.predict_proba(valid[0], valid[1]), model.predict_proba(valid[0], valid[1])
    )
    assert loaded.history.to_dict() == model.history.to_dict()
    assert "loss" in loaded.history.series


def test_history_has_one_entry_per_epoch_and_validation_metric(deepfm):
    series = deepfm.history.series
    assert len(series["loss"]) == len(series["val_logloss"]) >= 3
    assert series["loss"][-1] < series["loss"][0]


def test_unseen_and_rare_categories_map_to_the_rare_id(data):
    train, _ = data
    model = LogisticCTR(min_count=2).fit(*train)
    unseen = np.array([["zzz", "zzz", "zzz"]])
    p = model.predict_proba(np.zeros((1, 2)), unseen)
    assert p.shape == (1,) and 0 < p[0] < 1


def test_missing_numeric_values_are_accepted(data):
    (numeric, categories, clicks), _ = data
    numeric = numeric.copy()
    numeric[::3, 1] = np.nan
    model = LogisticCTR().fit(numeric, categories, clicks)
    assert np.isfinite(model.predict_proba(numeric, categories)).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((3, 2)), np.zeros((2, 3)), [0, 1, 0]), "same, non-zero number of rows"),
        ((np.zeros((3, 2)), np.zeros((3, 3)), [0, 1, 2]), "0/1 labels"),
        ((np.zeros((3, 2)), np.zeros((3, 3)), [1, 1, 1]), "both clicks"),
        ((np.zeros(3), np.zeros((3, 3)), [0, 1, 0]), "2-D"),
        ((np.full((3, 2), np.inf), np.zeros((3, 3)), [0, 1, 0]), "infinite"),
    ],
)
def test_bad_training_input_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        LogisticCTR().fit(*args)


def test_bad_prediction_input_is_refused(data):
    train, _ = data
    model = LogisticCTR().fit(*train)
    with pytest.raises(ValueError, match="expected 2 numeric and 3 categorical"):
        model.predict_proba(np.zeros((1, 2)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="call fit"):
        LogisticCTR().predict_proba(np.zeros((1, 2)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="validation must be"):
        LogisticCTR().fit(*train, validation=(train[0], train[1]))


@pytest.mark.skipif(
    not dataset_path("criteo-kaggle-dac-tiny").is_dir(),
    reason="shared Criteo tiny sample not found",
)
def test_logistic_regression_ranks_real_criteo_clicks():
    from ml.datasets.criteo import load_criteo_tiny

    data = load_criteo_tiny()
    train, test = slice(0, 1500), slice(1500, None)
    model = LogisticCTR(l2=0.03).fit(
        data.numeric[train], data.categorical[train], data.labels[train]
    )
    p = model.predict_proba(data.numeric[test], data.categorical[test])
    assert roc_auc(data.labels[test], p) > 0.65


def test_saved_deepfm_serves_without_tensorflow(tmp_path, data, deepfm):
    _, (numeric, categories, _) = data
    deepfm.save(tmp_path / "model")
    np.savez(tmp_path / "inputs.npz", numeric=numeric, categories=categories)
    script = f"""
import sys
sys.modules["tensorflow"] = None  # any import of TensorFlow or Keras now fails
sys.modules["keras"] = None
import numpy as np
from ml.base import Model
import ml.models.ctr
inputs = np.load("{tmp_path}/inputs.npz")
model = Model.load("{tmp_path}/model")
np.save("{tmp_path}/out.npy", model.predict_proba(inputs["numeric"], inputs["categories"]))
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO_ROOT, capture_output=True)
    np.testing.assert_array_equal(
        np.load(tmp_path / "out.npy"), deepfm.predict_proba(numeric, categories)
    )
