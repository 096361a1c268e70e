"""Social's training searches the ranker's hyperparameters and Adamic-Adar on the held-out
follows, and the version serves the point that won."""

from pathlib import Path

import pytest

from engine.versions import request_training
from ml.base import Model
from tests.engine.planted import configure
from tests.scenarios.social.contract_case import FAST, seed_rings


@pytest.fixture
def train(store, django_capture_on_commit_callbacks):
    seed_rings()

    def train_once(**settings):
        configure("social", **settings)
        with django_capture_on_commit_callbacks(execute=True):
            version = request_training("social", triggered_by="test")
        version.refresh_from_db()
        assert version.status == "promoted", version.error
        return version

    return train_once


def test_the_search_tries_points_on_the_held_out_follows_and_serves_the_winner(train):
    version = train(**FAST, model_search=True, search_max_trials=3, search_budget_seconds=60)
    record = version.search
    assert record["metric"] == "recall@10"
    trials = record["trials"]
    assert len(trials) == 3
    # The operator's configured point first, then each family's defaults.
    assert [(t["family"], t["origin"]) for t in trials] == [
        ("people_ranker", "start"),
        ("people_ranker", "default"),
        ("adamic_adar", "default"),
    ]
    assert trials[0]["params"] == FAST["hyperparameters"]
    assert all(t["metric"] is not None and 0 <= t["metric"] <= 1 for t in trials), trials
    best = record["best"]
    assert best["metric"] == max(t["metric"] for t in trials)
    assert (version.algorithm, version.hyperparameters) == (best["family"], best["params"])
    # The saved model is the winner's, refit on the same follows: the same held-out recall.
    served = Model.load(Path(version.artifact_path) / "model")
    if best["family"] == "adamic_adar":
        assert served.params["features"] == ["adamic_adar"]
    else:
        assert served.params == {**served.default_params(), **best["params"]}
    assert version.metrics["recall@10"] == pytest.approx(best["metric"])


def test_random_points_come_from_the_rankers_ranges(train):
    version = train(
        **FAST,
        model_search=True,
        search_families=["people_ranker"],
        search_max_trials=3,
        search_budget_seconds=60,
    )
    (random_point,) = [t for t in version.search["trials"] if t["origin"] == "random"]
    params = random_point["params"]
    assert set(params) == {"rerank_depth", "l2", "interactions"}
    assert params["rerank_depth"] in (30, 50, 100) and 1e-4 <= params["l2"] <= 1e-1


def test_a_pinned_model_trains_without_a_search(train):
    version = train(**FAST)
    assert not version.search
    assert (version.algorithm, version.hyperparameters) == (
        "people_ranker",
        FAST["hyperparameters"],
    )
