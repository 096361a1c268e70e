"""Coupons on the embedded default: offers by uplift, the holdout, and every redemption rule."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import User
from engine.versions import request_training
from scenarios.coupons.models import Assignment, Offer, Redemption
from scenarios.coupons.scenario import held_out
from tests.engine.planted import configure
from tests.scenarios.coupons.contract_case import history, seed_campaign

OFFERS = "/api/v1/coupons/offers"
REDEEM = "/api/v1/coupons/redeem"


@pytest.fixture
def campaign(store):
    seed_campaign()
    configure("coupons", holdout_share=0.0)


@pytest.fixture
def trained(campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        version = request_training("coupons", triggered_by="test")
    version.refresh_from_db()
    assert version.status == "promoted", version.error
    return version


def shopper(external_id: str, browser: bool) -> str:
    """A user whose events up to now are a campaign browser's (persuadable) or buyer's."""
    from catalog.models import Interaction

    user = User.objects.create(external_id=external_id)
    Interaction.objects.bulk_create(history(user, browser, timezone.now()))
    return external_id


def make_offer(**overrides) -> Offer:
    values = {
        "offer_id": "solo",
        "title": "5 off",
        "discount_type": Offer.DiscountType.AMOUNT,
        "discount_value": Decimal("5"),
        "min_basket": Decimal("50"),
        "cost_per_redemption": Decimal("5"),
        "total_budget": Decimal("100"),
        "per_user_limit": 1,
        "valid_from": timezone.now() - timedelta(days=1),
        **overrides,
    }
    return Offer.objects.create(**values)


def give(offer, external_id="p1", recommendation_id="coupons.0.n.0"):
    user = User.objects.get(external_id=external_id)
    return Assignment.objects.create(
        user=user, offer=offer, group="treatment", recommendation_id=recommendation_id
    )


def post_redeem(client, offer_id="solo", user_id="p1", basket="60.00", event_id="e-1", **extra):
    body = {
        "user_id": user_id,
        "offer_id": offer_id,
        "basket_total": basket,
        "event_id": event_id,
        **extra,
    }
    return client.post(REDEEM, body, format="json")


def test_untrained_each_user_gets_one_offer_at_random_and_it_is_logged(campaign, read_client):
    body = read_client.get(OFFERS, {"user_id": "p2", "n": 5}).json()
    assert body["fallback"] is True and body["holdout"] is False
    assert len(body["items"]) == 1
    logged = Assignment.objects.get(recommendation_id=body["recommendation_id"])
    assert logged.group == "treatment" and logged.offer.offer_id == body["items"][0]["offer_id"]
    again = read_client.get(OFFERS, {"user_id": "p2", "n": 5}).json()
    assert again["items"][0]["offer_id"] == body["items"][0]["offer_id"]  # fixed per user


def test_trained_offers_go_to_the_persuadable_not_to_who_buys_anyway(trained, read_client):
    browser = read_client.get(OFFERS, {"user_id": shopper("browser", True), "n": 2}).json()
    buyer = read_client.get(OFFERS, {"user_id": shopper("buyer", False), "n": 2}).json()
    assert browser["model_version"] == trained.pk and browser["fallback"] is False
    assert browser["items"] and browser["items"][0]["expected_uplift"] > 0.3
    assert all(item["expected_uplift"] < 0.15 for item in buyer["items"])
    assert trained.metrics["qini"] > 0.2  # the planted uplift is strong


def test_a_held_out_user_is_told_so_gets_nothing_and_is_logged_as_control(trained, read_client):
    configure("coupons", holdout_share=0.5)
    held = shopper(next(f"new-{n}" for n in range(100) if held_out(f"new-{n}", 0.5)), True)
    body = read_client.get(OFFERS, {"user_id": held, "n": 2}).json()
    assert body["holdout"] is True and body["items"] == []
    logged = Assignment.objects.filter(recommendation_id=body["recommendation_id"])
    assert logged.exists() and set(logged.values_list("group", flat=True)) == {"control"}


def test_unknown_users_and_bad_queries_are_refused(campaign, read_client):
    assert read_client.get(OFFERS, {"user_id": "nobody"}).status_code == 404
    assert read_client.get(OFFERS, {"user_id": "p1", "n": 0}).status_code == 400
    assert read_client.get(OFFERS, {}).status_code == 400


def test_a_redemption_charges_the_budget_once_per_event_id(store, write_client):
    offer = make_offer()
    give(offer, recommendation_id="coupons.3.n.abc")
    first = post_redeem(write_client)
    assert first.status_code == 201, first.content
    assert first.json()["recommendation_id"] == "coupons.3.n.abc"
    assert first.json()["budget_left"] == "95.00" and first.json()["replayed"] is False
    retry = post_redeem(write_client)
    assert retry.status_code == 200 and retry.json()["replayed"] is True
    offer.refresh_from_db()
    assert offer.spent == Decimal("5") and Redemption.objects.count() == 1


@pytest.mark.parametrize(
    "setup, request_overrides, status, rule",
    [
        ({}, {"user_id": "nobody"}, 404, "unknown_user"),
        ({}, {"offer_id": "nothing"}, 404, "unknown_offer"),
        ({"assigned": False}, {}, 422, "not_assigned"),
        ({"valid_until": -1}, {}, 422, "expired"),
        ({}, {"basket": "49.99"}, 422, "min_basket"),
        ({"used": 1}, {}, 409, "per_user_limit"),
        ({"total_budget": Decimal("4")}, {}, 409, "budget"),
        ({"is_active": False}, {}, 422, "inactive"),
        (
            {"eligible_categories": ["books"]},
            {"categories": ["electronics/phones"]},
            422,
            "categories",
        ),
        ({}, {"recommendation_id": "products.1.n.ff"}, 400, "recommendation_id"),
    ],
)
def test_every_broken_rule_is_a_4xx_naming_it_and_charges_nothing(
    store, write_client, setup, request_overrides, status, rule
):
    setup = dict(setup)
    assigned, used = setup.pop("assigned", True), setup.pop("used", 0)
    if "valid_until" in setup:
        setup["valid_until"] = timezone.now() + timedelta(seconds=setup["valid_until"])
        setup["valid_from"] = timezone.now() - timedelta(days=2)
    offer = make_offer(**setup)
    if assigned:
        give(offer)
    for n in range(used):
        Redemption.objects.create(
            user=User.objects.get(external_id="p1"),
            offer=offer,
            basket_total=Decimal("60"),
            cost=Decimal("0"),
            event_id=f"before-{n}",
            recommendation_id="seed",
        )
    before = Redemption.objects.count()
    response = post_redeem(write_client, **request_overrides)
    assert response.status_code == status, response.content
    assert response.json()["rule"] == rule and response.json()["detail"]
    offer.refresh_from_db()
    assert offer.spent == 0 and Redemption.objects.count() == before


def test_a_reused_event_id_for_another_redemption_is_a_conflict(store, write_client):
    offer = make_offer(per_user_limit=3)
    give(offer)
    assert post_redeem(write_client).status_code == 201
    response = post_redeem(write_client, basket="80.00")
    assert response.status_code == 409 and response.json()["rule"] == "event_id"


def test_malformed_bodies_are_400_naming_the_field(store, write_client):
    response = post_redeem(write_client, basket="-1")
    assert response.status_code == 400 and "basket_total" in str(response.json())
    response = write_client.post(REDEEM, {"user_id": "p1"}, format="json")
    assert response.status_code == 400 and "offer_id" in str(response.json())


def test_an_offer_used_up_by_the_user_is_no_longer_answered(trained, read_client, write_client):
    user_id = shopper("browser", True)
    body = read_client.get(OFFERS, {"user_id": user_id, "n": 2}).json()
    first = body["items"][0]["offer_id"]
    for n in range(2):  # the campaign's per-user limit
        response = post_redeem(
            write_client, offer_id=first, user_id=user_id, basket="20", event_id=f"u-{n}"
        )
        assert response.status_code == 201, response.content
    again = read_client.get(OFFERS, {"user_id": user_id, "n": 2}).json()
    assert first not in [item["offer_id"] for item in again["items"]]


def test_the_admin_shows_each_offers_results(trained, admin_client):
    response = admin_client.get("/admin/coupons/offer/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "held out" in text and "points" in text
    offer = Offer.objects.first()
    assert admin_client.get(f"/admin/coupons/offer/{offer.pk}/change/").status_code == 200


def test_settings_are_validated(db):
    from engine import registry

    scenario = registry.get("coupons")
    assert scenario.validate_settings(scenario.effective_settings({"model": "nope"}))
    assert scenario.validate_settings(
        scenario.effective_settings({"hyperparameters": {"depth": 3}})
    )
    assert scenario.validate_settings(scenario.effective_settings({"holdout_share": 0.9}))


def test_the_dashboard_shows_redemption_spend_against_budgets(db, admin_client):
    from engine import registry

    assert registry.get("coupons").dashboard_figures() == []
    for offer_id, spent, budget, active in (
        ("a", "12.50", "100", True),
        ("b", "7.50", "50", False),
    ):
        Offer.objects.create(
            offer_id=offer_id,
            title=offer_id,
            discount_type=Offer.DiscountType.PERCENT,
            discount_value=Decimal("10"),
            cost_per_redemption=Decimal("2.50"),
            total_budget=Decimal(budget),
            spent=Decimal(spent),
            is_active=active,
            valid_from=timezone.now(),
        )
    line = ("redemption spend / budgets", "20.00 of 150.00 over 2 offers (1 active)")
    assert registry.get("coupons").dashboard_figures() == [line]
    page = admin_client.get("/admin/engine/scenarioconfig/dashboard/").content.decode()
    assert "20.00 of 150.00 over 2 offers (1 active)" in page
