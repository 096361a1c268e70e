"""Recommendation ids, attribution, experiments and impression counting."""

import pytest

from engine import attribution, ids, impressions, routing, serving
from engine.impressions import flush_impressions, impression_key, pending_impressions
from engine.models import Experiment, ImpressionCount
from engine.pipeline import Slate, diversify, explore, filter_slate


def test_recommendation_id_carries_version_and_arm():
    rid = ids.new_recommendation_id("products", 12, "treatment")
    assert rid.startswith("products.12.b.") and len(rid) <= 64
    assert ids.parse_recommendation_id(rid) == ("products", 12, "treatment")
    assert ids.parse_recommendation_id("products.0.n.abc") == ("products", None, "")
    assert ids.parse_recommendation_id("made-up") is None


def test_user_bucket_is_stable_and_splits_by_share():
    buckets = [routing.user_bucket(f"user-{i}", "experiment-1") for i in range(4000)]
    assert buckets[:3] == [routing.user_bucket(f"user-{i}", "experiment-1") for i in range(3)]
    share = sum(b < 0.3 for b in buckets) / len(buckets)
    assert 0.27 < share < 0.33


def test_experiment_splits_traffic_and_attributes_events(
    store, train_products, read_client, write_client
):
    first = train_products(model="itemknn")
    second = train_products(model="ease", promotion_tolerance=1.0)
    experiment = Experiment(
        scenario="products", name="knn vs ease", control=first, treatment=second
    )
    experiment.full_clean()
    experiment.save()
    routing.routes.forget()
    seen_arms = {}
    for user in ["p1", "p2", "p3", "p4", "p5", "p6", "b1", "b2", "b3", "b4", "b5", "b6"]:
        body = read_client.get("/api/v1/products/recommendations", {"user_id": user}).json()
        expected = (
            "treatment"
            if routing.user_bucket(user, f"experiment-{experiment.pk}") < 0.5
            else "control"
        )
        assert body["experiment_arm"] == expected
        assert body["model_version"] == (second.pk if expected == "treatment" else first.pk)
        seen_arms[user] = body
    assert {b["experiment_arm"] for b in seen_arms.values()} == {"control", "treatment"}
    # p1 clicks and buys what it was shown; the events quote the recommendation id.
    shown = seen_arms["p1"]
    events = [
        {
            "user_id": "p1",
            "item_id": shown["items"][0]["item_id"],
            "type": kind,
            "context": {"recommendation_id": shown["recommendation_id"]},
        }
        for kind in ("click", "purchase")
    ]
    assert write_client.post("/api/v1/events", {"events": events}, format="json").status_code in (
        200,
        201,
    )
    arm = shown["experiment_arm"]
    stats = attribution.arm_stats("products", shown["model_version"], arm)
    impressions = sum(1 for b in seen_arms.values() if b["experiment_arm"] == arm)
    assert stats["impressions"] == impressions
    assert (stats["clicks"], stats["conversions"]) == (1, 1)
    assert stats["ctr"] == pytest.approx(1 / impressions)
    # Counters survive a flush into the database unchanged.
    assert flush_impressions() == 12
    assert (
        attribution.arm_stats("products", shown["model_version"], arm)["impressions"] == impressions
    )
    assert ImpressionCount.objects.filter(scenario="products").count() == 2


def test_experiment_needs_two_usable_versions_of_the_same_scenario(store, train_products):
    from django.core.exceptions import ValidationError

    version = train_products(model="itemknn")
    experiment = Experiment(
        scenario="products", name="self", control=version, treatment=version, treatment_share=1.5
    )
    with pytest.raises(ValidationError) as error:
        experiment.full_clean()
    assert set(error.value.message_dict) == {"treatment", "treatment_share"}


def test_filter_and_diversify_hand_computed():
    import numpy as np

    # Category paths a/x, a/x, b/y, a/z: shared depth over the deeper path.
    closeness = np.array(
        [[1, 1, 0, 0.5], [1, 1, 0, 0.5], [0, 0, 1, 0], [0.5, 0.5, 0, 1]], dtype=np.float64
    )

    def similarity(rows):
        return closeness[np.ix_(rows, rows)]

    slate = Slate([0, 1, 2, 3], [1.0, 0.9, 0.5, 0.1], ["r0", "r1", "r2", "r3"])
    assert filter_slate(slate, [True, False, True, True]).rows.tolist() == [0, 2, 3]
    assert diversify(slate, similarity, 0.0, 3).rows.tolist() == [0, 1, 2]
    # strength 0.5: after item 0, item 1 scores 0.5*0.889 - 0.5*1 < item 2's 0.5*0.444 - 0
    picked = diversify(slate, similarity, 0.5, 3)
    assert picked.rows.tolist() == [0, 2, 1] and picked.reasons == ["r0", "r2", "r1"]


def test_explore_only_touches_slots_after_the_protected_top():
    import numpy as np

    slate = Slate([0, 1, 2, 3], [4, 3, 2, 1])
    explored = explore(slate, np.array([9]), 1.0, np.random.default_rng(0), "new")
    assert explored.rows.tolist() == [0, 1, 9, 3] and explored.reasons[2] == "new"
    assert explore(slate, np.array([9]), 0.0, np.random.default_rng(0), "new") is slate


def test_generic_endpoint_lists_and_serves_scenarios(store, train_products, read_client):
    version = train_products(model="itemknn")
    listing = read_client.get("/api/v1/scenarios/").json()["results"]
    products = next(entry for entry in listing if entry["slug"] == "products")
    assert products["model_version"] == version.pk
    body = read_client.get("/api/v1/scenarios/products/recommendations", {"user_id": "b1"})
    assert body.status_code == 200 and body.json()["model_version"] == version.pk
    missing = read_client.get("/api/v1/scenarios/nope/recommendations", {"user_id": "b1"})
    assert missing.status_code == 404


def test_impressions_are_counted_in_process_and_pushed_to_the_cache(
    store, train_products, read_client, monkeypatch
):
    from django.core.cache import cache

    version = train_products(model="itemknn")
    key = impression_key("products", version.pk, "")
    monkeypatch.setattr(impressions, "IMPRESSION_PUSH_SECONDS", 3600)
    for _ in range(3):
        assert (
            read_client.get("/api/v1/products/recommendations", {"user_id": "b1"}).status_code
            == 200
        )
    assert cache.get(key) is None  # no cache round trip per response
    assert pending_impressions("products", version.pk, "") == 3
    monkeypatch.setattr(impressions, "IMPRESSION_PUSH_SECONDS", 0)
    assert read_client.get("/api/v1/products/recommendations", {"user_id": "b1"}).status_code == 200
    assert cache.get(key) == 4 and impressions.impressions.local(key) == 0
    assert flush_impressions() == 4


def test_warm_up_loads_the_served_versions_before_any_request(store, train_products, monkeypatch):
    from engine import registry
    from engine.pipeline import states

    version = train_products(model="itemknn")
    states.clear()
    assert serving.warm_up() == [f"products v{version.pk}"]
    scenario = registry.get("products")
    monkeypatch.setattr(type(scenario), "load_state", lambda *_: pytest.fail("loaded again"))
    assert states.get(scenario, version.pk)[0] is not None
