"""Coupons on PostgreSQL: parallel redemptions (threads, each with its own connection, through
the API) never spend past an offer's budget or a user's limit, and a retried event id charges
once; the scenario trains on the real worker and serves what it trained."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import User
from engine.models import ModelVersion
from engine.versions import request_training
from scenarios.coupons.models import Assignment, Offer, Redemption
from tests.engine.planted import configure, plant_store, reset_engine_state
from tests.integration.parallel import post_at_once
from tests.scenarios.coupons.contract_case import seed_campaign

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CLIENTS = 24


def offer_for(people: list[User], **overrides) -> Offer:
    offer = Offer.objects.create(
        offer_id=overrides.pop("offer_id", "race"),
        title="race",
        discount_type=Offer.DiscountType.AMOUNT,
        cost_per_redemption=Decimal("5"),
        valid_from=timezone.now() - timedelta(days=1),
        **overrides,
    )
    Assignment.objects.bulk_create(
        Assignment(user=user, offer=offer, group="treatment", recommendation_id="coupons.0.n.1")
        for user in people
    )
    return offer


def race(bodies: list[dict]) -> list[int]:
    return post_at_once("/api/v1/coupons/redeem", bodies)


def test_parallel_redemptions_never_overspend_the_budget(db):
    people = [User.objects.create(external_id=f"racer-{n}") for n in range(CLIENTS)]
    offer = offer_for(people, total_budget=Decimal("35"))  # seven redemptions
    statuses = race(
        [
            {
                "user_id": p.external_id,
                "offer_id": "race",
                "basket_total": "10",
                "event_id": f"b{n}",
            }
            for n, p in enumerate(people)
        ]
    )
    assert sorted(set(statuses)) == [201, 409] and statuses.count(201) == 7
    offer.refresh_from_db()
    assert offer.spent == Decimal("35") and Redemption.objects.filter(offer=offer).count() == 7


def test_parallel_redemptions_never_pass_the_per_user_limit(db):
    person = User.objects.create(external_id="greedy")
    offer = offer_for([person], total_budget=Decimal("1000"), per_user_limit=3)
    statuses = race(
        [
            {"user_id": "greedy", "offer_id": "race", "basket_total": "10", "event_id": f"u{n}"}
            for n in range(CLIENTS)
        ]
    )
    assert statuses.count(201) == 3 and statuses.count(409) == CLIENTS - 3
    offer.refresh_from_db()
    assert offer.spent == Decimal("15")


def test_one_event_id_sent_by_every_client_is_charged_once(db):
    person = User.objects.create(external_id="retrier")
    offer = offer_for([person], total_budget=Decimal("1000"), per_user_limit=5)
    body = {"user_id": "retrier", "offer_id": "race", "basket_total": "10", "event_id": "same"}
    statuses = race([body] * CLIENTS)
    assert statuses.count(201) == 1 and statuses.count(200) == CLIENTS - 1
    offer.refresh_from_db()
    assert offer.spent == Decimal("5") and Redemption.objects.count() == 1


def test_coupons_train_on_the_worker_and_serve_the_trained_version(
    celery_worker, wait_until, read_client, write_client
):
    reset_engine_state()
    plant_store()
    seed_campaign()
    configure("coupons", holdout_share=0.0)
    version = request_training("coupons", triggered_by="integration")
    wait_until(
        lambda: ModelVersion.objects.get(pk=version.pk).is_final,
        timeout=120,
        message="coupons did not finish training on the worker",
    )
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.PROMOTED, version.error
    body = read_client.get("/api/v1/coupons/offers", {"user_id": "p2", "n": 2}).json()
    assert body["model_version"] == version.pk and body["items"]
    redeemed = write_client.post(
        "/api/v1/coupons/redeem",
        {
            "user_id": "p2",
            "offer_id": body["items"][0]["offer_id"],
            "basket_total": "50",
            "event_id": "worker-1",
        },
        format="json",
    )
    assert redeemed.status_code == 201, redeemed.content
    assert redeemed.json()["recommendation_id"] == body["recommendation_id"]
