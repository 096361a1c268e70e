"""The two-head TensorFlow uplift network, chosen by setting: it trains on the worker's side
and is served from its exported numpy layers (tiny epochs: behaviour, not quality)."""

import numpy as np
import pytest

from engine import registry
from engine.models import ModelVersion
from engine.versions import request_training
from ml.models.uplift import TwoHeadUplift
from tests.engine.planted import configure
from tests.scenarios.coupons.contract_case import seed_campaign
from tests.scenarios.coupons.test_coupons_api import OFFERS, shopper

TINY = {"hidden": [8], "epochs": 12, "batch_size": 32, "learning_rate": 0.02, "patience": 12}


@pytest.fixture
def two_head_version(store, django_capture_on_commit_callbacks):
    seed_campaign()
    configure("coupons", holdout_share=0.0, model="two_head_uplift", hyperparameters=TINY)
    with django_capture_on_commit_callbacks(execute=True):
        version = request_training("coupons", triggered_by="test")
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.PROMOTED, version.error
    return version


def test_the_two_head_network_trains_and_serves_from_numpy_layers(two_head_version, read_client):
    assert two_head_version.settings["model"] == "two_head_uplift"
    assert two_head_version.metrics["qini"] > 0.1  # better than random on held-out people
    # an epoch's loss and validation Qini per offer, as the network logged them
    assert any(key.endswith(".val_qini") for key in two_head_version.history)
    state = registry.get("coupons").load_state(two_head_version)
    for model in state["models"].values():
        assert isinstance(model, TwoHeadUplift)
        assert all(isinstance(w, np.ndarray) for layer in model.layers for w in layer)
    browser = read_client.get(OFFERS, {"user_id": shopper("browser", True), "n": 2}).json()
    buyer = read_client.get(OFFERS, {"user_id": shopper("buyer", False), "n": 2}).json()
    assert browser["model_version"] == two_head_version.pk and not browser["fallback"]
    assert browser["items"] and browser["items"][0]["expected_uplift"] > 0.2
    assert all(
        item["expected_uplift"] < browser["items"][0]["expected_uplift"] / 2
        for item in buyer["items"]
    )


def test_bad_network_hyperparameters_are_refused_by_the_settings(db):
    scenario = registry.get("coupons")
    errors = scenario.validate_settings(
        scenario.effective_settings({"model": "two_head_uplift", "hyperparameters": {"layers": 3}})
    )
    assert errors and "layers" in errors[0]
