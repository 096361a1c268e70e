"""The FAQ's training searches the matchers on the held-out paraphrases and the version serves
the point that won."""

from pathlib import Path

import pytest

from engine.versions import request_training
from ml.base import Model
from scenarios.faq.models import FaqEntry
from tests.engine.planted import configure
from tests.scenarios.faq.contract_case import seed_entries


@pytest.fixture
def train(db, django_capture_on_commit_callbacks):
    def train_once(**settings):
        configure("faq", **settings)
        with django_capture_on_commit_callbacks(execute=True):
            version = request_training("faq", triggered_by="test")
        version.refresh_from_db()
        assert version.status == "promoted", version.error
        return version

    return train_once


def test_the_search_tries_every_matcher_on_the_held_out_paraphrases_and_serves_the_winner(
    train,
):
    seed_entries()
    version = train(model="bm25", model_search=True, search_max_trials=3)
    record = version.search
    assert record["metric"] == "accuracy@1"
    trials = record["trials"]
    # The configured point first (it is bm25's defaults too), then the other families' defaults.
    assert [(t["family"], t["origin"]) for t in trials] == [
        ("bm25", "start"),
        ("dual_encoder", "default"),
        ("hybrid", "default"),
    ]
    assert all(t["metric"] is not None and 0 <= t["metric"] <= 1 for t in trials), trials
    best = record["best"]
    assert best["metric"] == max(t["metric"] for t in trials)
    assert (version.algorithm, version.hyperparameters) == (best["family"], best["params"])
    # Measured on the same three held-out paraphrases the search scored it on.
    assert version.metrics["validation_queries"] == 3
    assert version.metrics["accuracy@1"] == pytest.approx(best["metric"])
    served = Model.load(Path(version.artifact_path) / "model")
    assert served.name == f"faq_{best['family']}"
    assert all(served.params[name] == value for name, value in best["params"].items())


def test_random_points_come_from_the_matchers_ranges(train):
    seed_entries()
    version = train(model="bm25", model_search=True, search_families=["bm25"], search_max_trials=3)
    randoms = [t["params"] for t in version.search["trials"] if t["origin"] == "random"]
    assert len(randoms) == 2
    for params in randoms:
        assert set(params) == {"k1", "b"}
        assert 0.5 <= params["k1"] <= 2.0 and 0.3 <= params["b"] <= 1.0
    served = Model.load(Path(version.artifact_path) / "model")
    assert {k: served.params[k] for k in ("k1", "b")} == {
        "k1": version.hyperparameters.get("k1", 1.2),
        "b": version.hyperparameters.get("b", 0.75),
    }


def test_without_held_out_paraphrases_there_is_no_search(train):
    for key, question in (("ship", "How long is shipping?"), ("pay", "Can I pay by card?")):
        FaqEntry.objects.create(
            key=key, language="en", category="shipping", question=question, answer="Yes."
        )
    version = train(model="bm25", model_search=True)
    assert not version.search
    assert version.metrics["validation_queries"] == 0
    assert (version.algorithm, version.hyperparameters) == ("bm25", {})


def test_a_pinned_model_trains_without_a_search(train):
    seed_entries()
    version = train(model="bm25", hyperparameters={"k1": 0.9})
    assert not version.search
    assert (version.algorithm, version.hyperparameters) == ("bm25", {"k1": 0.9})
