"""Social on the embedded default: follows, blocks and opt-outs with their 400s, and suggestions
that respect every filter, say why, and change with the next follow."""

import re

import pytest

from catalog.models import Item, User
from engine.versions import request_training
from scenarios.social.models import Block, Follow, OptOut
from tests.engine.planted import configure
from tests.scenarios.social.contract_case import FAST, seed_rings

FOLLOWS = "/api/v1/social/follows"
BLOCKS = "/api/v1/social/blocks"
OPT_OUT = "/api/v1/social/opt-out"
SUGGESTIONS = "/api/v1/social/suggestions"


@pytest.fixture
def rings(store):
    seed_rings()
    configure("social", **FAST)


@pytest.fixture
def train(rings, django_capture_on_commit_callbacks):
    def train_once():
        with django_capture_on_commit_callbacks(execute=True):
            version = request_training("social", triggered_by="test")
        version.refresh_from_db()
        assert version.status == "promoted", version.error
        return version

    return train_once


def follow(client, follower, followee, **extra):
    body = {"follower_id": follower, "followee_id": followee, **extra}
    return client.post(FOLLOWS, body, format="json")


def errors(response) -> dict[str, str]:
    """The 400's messages by field."""
    return {error["field"]: error["message"] for error in response.json()["errors"]}


def suggested(client, user_id="p1", n=10):
    response = client.get(SUGGESTIONS, {"user_id": user_id, "n": n})
    assert response.status_code == 200, response.content
    return response.json()


def follows_of(user_id):
    return set(
        Follow.objects.filter(follower__external_id=user_id).values_list(
            "followee__external_id", flat=True
        )
    )


def linked(user_id):
    """Everyone the user follows or is followed by."""
    outgoing = follows_of(user_id)
    incoming = Follow.objects.filter(followee__external_id=user_id).values_list(
        "follower__external_id", flat=True
    )
    return outgoing | set(incoming)


# ---- writes -----------------------------------------------------------------------------------
def test_following_yourself_is_a_400_naming_the_followee(rings, write_client):
    response = follow(write_client, "p1", "p1")
    assert response.status_code == 400
    assert "themselves" in errors(response)["followee_id"]
    assert not Follow.objects.filter(follower__external_id="p1", followee__external_id="p1")


def test_an_unknown_user_is_a_400_naming_the_field(rings, write_client):
    response = follow(write_client, "nobody", "p2")
    assert response.status_code == 400
    assert "nobody" in errors(response)["follower_id"]
    response = follow(write_client, "p1", "ghost")
    assert response.status_code == 400 and "ghost" in errors(response)["followee_id"]


def test_a_duplicate_follow_changes_nothing(rings, write_client):
    first = follow(write_client, "p1", "p4", recommendation_id="social.1.n.abc")
    assert first.status_code == 201 and first.json()["created"] is True
    count = Follow.objects.count()
    again = follow(write_client, "p1", "p4", recommendation_id="social.2.n.def")
    assert again.status_code == 200 and again.json()["created"] is False
    assert Follow.objects.count() == count
    row = Follow.objects.get(follower__external_id="p1", followee__external_id="p4")
    assert row.recommendation_id == "social.1.n.abc"


def test_a_recommendation_id_of_another_scenario_is_refused(rings, write_client):
    response = follow(write_client, "p1", "p4", recommendation_id="coupons.1.n.abc")
    assert response.status_code == 400 and "recommendation_id" in errors(response)
    assert "p4" not in follows_of("p1")


def test_unfollowing_removes_the_follow_and_a_second_time_is_a_404(rings, write_client):
    body = {"follower_id": "p1", "followee_id": "p2"}
    assert write_client.delete(FOLLOWS, body, format="json").status_code == 204
    assert "p2" not in follows_of("p1")
    response = write_client.delete(FOLLOWS, body, format="json")
    assert response.status_code == 404 and "does not follow" in response.json()["detail"]


def test_a_block_ends_follows_both_ways_and_refuses_new_ones(rings, write_client):
    assert {"p2", "p3"} <= follows_of("p1") and "p1" in follows_of("p5")
    response = write_client.post(BLOCKS, {"blocker_id": "p1", "blocked_id": "p5"}, format="json")
    assert response.status_code == 201 and response.json()["follows_removed"] == 1
    assert "p1" not in follows_of("p5")
    for follower, followee in (("p1", "p5"), ("p5", "p1")):
        refused = follow(write_client, follower, followee)
        assert refused.status_code == 400 and "blocked" in errors(refused)["followee_id"]
    again = write_client.post(BLOCKS, {"blocker_id": "p1", "blocked_id": "p5"}, format="json")
    assert again.status_code == 200 and again.json()["created"] is False
    assert Block.objects.count() == 1
    self_block = write_client.post(BLOCKS, {"blocker_id": "p1", "blocked_id": "p1"}, format="json")
    assert self_block.status_code == 400 and "blocked_id" in errors(self_block)


def test_opting_out_twice_changes_nothing_and_opting_in_again_works(rings, write_client):
    first = write_client.post(OPT_OUT, {"user_id": "p4"}, format="json")
    assert first.status_code == 201 and first.json()["changed"] is True
    again = write_client.post(OPT_OUT, {"user_id": "p4"}, format="json")
    assert again.status_code == 200 and again.json()["changed"] is False
    assert OptOut.objects.count() == 1
    back = write_client.delete(OPT_OUT, {"user_id": "p4"}, format="json")
    assert back.status_code == 200 and back.json()["opted_out"] is False
    assert not OptOut.objects.exists()
    unknown = write_client.post(OPT_OUT, {"user_id": "ghost"}, format="json")
    assert unknown.status_code == 400 and "user_id" in errors(unknown)


def test_writes_need_the_write_scope(rings, read_client):
    assert follow(read_client, "p1", "p4").status_code == 403


def test_deleting_a_user_removes_their_follows_blocks_and_opt_out_at_both_ends(rings, write_client):
    write_client.post(BLOCKS, {"blocker_id": "b1", "blocked_id": "p4"}, format="json")
    write_client.post(BLOCKS, {"blocker_id": "p4", "blocked_id": "b2"}, format="json")
    write_client.post(OPT_OUT, {"user_id": "p4"}, format="json")
    user = User.objects.get(external_id="p4")
    assert Follow.objects.filter(follower=user).exists()
    assert Follow.objects.filter(followee=user).exists()
    assert write_client.delete("/api/v1/users/p4").status_code in (200, 204)
    assert not Follow.objects.filter(follower__external_id="p4").exists()
    assert not Follow.objects.filter(followee__external_id="p4").exists()
    assert not Block.objects.exists() and not OptOut.objects.exists()
    assert Follow.objects.filter(follower__external_id="p1").exists()  # others keep theirs


# ---- suggestions ------------------------------------------------------------------------------
def test_an_unknown_user_gets_a_404(rings, read_client):
    response = read_client.get(SUGGESTIONS, {"user_id": "ghost"})
    assert response.status_code == 404 and "ghost" in response.json()["detail"]


def test_untrained_it_suggests_the_most_followed_people_but_never_the_filtered(rings, read_client):
    body = suggested(read_client, "p1")
    assert body["fallback"] is True
    shown = [item["user_id"] for item in body["items"]]
    assert shown and "p1" not in shown and not set(shown) & follows_of("p1")
    assert all(item["reason"].startswith("followed by") for item in body["items"])


def test_suggestions_skip_self_follows_blocks_either_way_and_opted_out_people(
    train, read_client, write_client
):
    train()
    before = [item["user_id"] for item in suggested(read_client, "p1")["items"]]
    assert before and "p1" not in before and not set(before) & follows_of("p1")
    assert "p4" in before  # shares all four of p1's links
    write_client.post(BLOCKS, {"blocker_id": "p6", "blocked_id": "p1"}, format="json")
    write_client.post(OPT_OUT, {"user_id": "p4"}, format="json")
    after = [item["user_id"] for item in suggested(read_client, "p1")["items"]]
    assert "p6" not in after and "p4" not in after
    write_client.post(BLOCKS, {"blocker_id": "p1", "blocked_id": "p5"}, format="json")
    assert "p5" not in [item["user_id"] for item in suggested(read_client, "p1")["items"]]


def test_a_new_follow_changes_the_next_answer(train, read_client, write_client):
    train()
    first = suggested(read_client, "p1")
    top = first["items"][0]["user_id"]
    response = follow(write_client, "p1", top, recommendation_id=first["recommendation_id"])
    assert response.status_code == 201
    second = suggested(read_client, "p1")
    assert top not in [item["user_id"] for item in second["items"]]


def test_reasons_count_the_mutual_follows_and_say_who_follows_you(train, read_client):
    train()
    items = suggested(read_client, "p1")["items"]
    mine = linked("p1")
    for item in items:
        theirs = linked(item["user_id"])
        mutual = len(mine & theirs)
        if mutual:
            assert f"{mutual} mutual follow" in item["reason"], item
        else:
            assert "mutual" not in item["reason"], item
        assert ("follows you" in item["reason"]) == ("p1" in follows_of(item["user_id"])), item
    assert any(re.search(r"\d+ mutual follows?", item["reason"]) for item in items)
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)


def test_people_who_buy_the_same_brands_are_told_so(store, train, read_client):
    for item in Item.objects.all():
        item.attributes = {"brand": "acme" if item.external_id.startswith("phone") else "pulp"}
        item.save()
    train()
    items = suggested(read_client, "p1")["items"]
    phone_buyers = [item for item in items if item["user_id"].startswith("p")]
    assert phone_buyers and all("buys the same brands" in i["reason"] for i in phone_buyers)
    assert all("same brands" not in i["reason"] for i in items if i["user_id"].startswith("b"))


def test_the_served_model_reports_held_out_recall_against_adamic_adar(train):
    version = train()
    assert {"recall@10", "ndcg@10", "test_follows"} <= set(version.metrics)
    if version.metrics["test_follows"]:
        assert "adamic_adar_recall@10" in version.metrics
    assert version.data_snapshot["follows"] == Follow.objects.count()


def test_settings_refuse_an_unknown_model_and_hyperparameter(rings):
    from engine import registry

    scenario = registry.get("social")
    assert scenario.validate_settings({**scenario.default_settings, "model": "magic"})
    errors = scenario.validate_settings(
        {**scenario.default_settings, "hyperparameters": {"depth": 3}}
    )
    assert errors and "depth" in errors[0]
