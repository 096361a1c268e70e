"""Model search in the training task (engine.search through products): the version records
every point tried and serves the winner; a retrain starts from the served winner; the search
can be switched off, narrowed to named families, and its record is shown in the admin."""

import pytest

from tests.engine.planted import configure

pytestmark = pytest.mark.django_db


def test_training_searches_and_serves_the_winner(store, train_products, read_client):
    configure("products", search_budget_seconds=30, search_max_trials=12)
    version = train_products()
    assert version.status == "promoted", version.error
    record = version.search
    assert record["metric"] == "ndcg@10"
    trials = record["trials"]
    assert 5 <= len(trials) <= 12
    # The operator's model first, then every offered family's defaults, then random points.
    assert trials[0] == {**trials[0], "family": "als", "origin": "start"}
    families = {t["family"] for t in trials if t["origin"] == "default"}
    assert families >= {"ease", "itemknn", "rp3beta", "seqknn"}
    best = max((t for t in trials if t["metric"] is not None), key=lambda t: t["metric"])
    assert record["best"]["metric"] == best["metric"]
    assert (version.algorithm, version.hyperparameters) == (
        record["best"]["family"],
        record["best"]["params"],
    )
    answer = read_client.get("/api/v1/products/recommendations", {"user_id": "p1", "n": 3})
    assert answer.status_code == 200
    assert answer.json()["model_version"] == version.pk


def test_a_retrain_starts_from_the_served_winner(store, train_products):
    configure("products", search_budget_seconds=0)
    first = train_products()
    second = train_products()
    opening = second.search["trials"][0]
    assert (opening["family"], opening["params"], opening["origin"]) == (
        first.algorithm,
        first.hyperparameters,
        "start",
    )


def test_search_off_trains_the_configured_model(store, train_products):
    version = train_products(model="itemknn", hyperparameters={"neighbours": 5})
    assert version.search == {}
    assert (version.algorithm, version.hyperparameters) == ("itemknn", {"neighbours": 5})


def test_search_families_narrows_the_search(store, train_products):
    configure("products", search_families=["itemknn"], search_budget_seconds=0)
    version = train_products()
    assert {t["family"] for t in version.search["trials"]} == {"itemknn"}
    assert version.algorithm == "itemknn"


def test_an_unknown_search_family_is_refused(admin_client):
    from engine import registry

    errors = registry.get("products").validate_settings(
        {**registry.get("products").default_settings, "search_families": ["nope"]}
    )
    assert errors and "nope" in errors[0]


def test_the_admin_shows_every_point_tried(store, train_products, admin_client):
    configure("products", search_budget_seconds=0)
    version = train_products()
    page = admin_client.get(f"/admin/engine/modelversion/{version.pk}/change/").content.decode()
    assert "Model search" in page
    assert f"{len(version.search['trials'])} points in" in page
    assert "winner" in page
    for family in ("ease", "itemknn", "rp3beta"):
        assert f"<td>{family}</td>" in page
