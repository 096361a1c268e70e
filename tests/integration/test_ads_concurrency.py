"""Ads on PostgreSQL: parallel clicks (threads, each with its own connection, through the API)
never spend past a campaign's daily budget, and the same click sent by every client charges
once."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from catalog.models import ApiKey, User
from scenarios.ads.models import Ad, Campaign, Click, Impression, Slot
from tests.engine.planted import plant_store, reset_engine_state
from tests.scenarios.ads.contract_case import seed_ads

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CLIENTS = 24


def race(bodies: list[dict]) -> list[int]:
    """POST every click at once from its own thread (its own client and DB connection)."""
    _, raw_key = ApiKey.create_key("race", scopes=("read", "write"))
    start = threading.Barrier(len(bodies))
    statuses = [0] * len(bodies)

    def client_thread(index: int):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        try:
            start.wait()
            statuses[index] = client.post(
                "/api/v1/ads/click", bodies[index], format="json"
            ).status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.fixture
def shown():
    """One impression of ad-0 per client, each priced 1.0, on a daily budget of 3.5."""
    reset_engine_state()
    plant_store()
    seed_ads()
    Click.objects.all().delete()
    Campaign.objects.update(spent_total=0)
    Campaign.objects.filter(name="c0").update(daily_budget=Decimal("3.5"))
    ad, user = Ad.objects.get(ad_id="ad-0"), User.objects.get(external_id="p1")
    slot = Slot.objects.get(name="home")
    for n in range(CLIENTS):
        Impression.objects.create(
            user=user, ad=ad, slot=slot, recommendation_id=f"ads.race.{n}", position=1, price=1
        )
    return ad


def test_parallel_clicks_never_overspend_the_daily_budget(shown):
    statuses = race(
        [
            {"recommendation_id": f"ads.race.{n}", "ad_id": "ad-0", "user_id": "p1"}
            for n in range(CLIENTS)
        ]
    )
    assert statuses == [201] * CLIENTS
    campaign = Campaign.objects.get(name="c0")
    assert campaign.spent_total == Decimal("3.5")
    assert sum(click.price for click in Click.objects.filter(ad=shown)) == Decimal("3.5")


def test_the_same_click_from_every_client_charges_once(shown):
    statuses = race(
        [{"recommendation_id": "ads.race.0", "ad_id": "ad-0", "user_id": "p1"}] * CLIENTS
    )
    assert sorted(statuses) == [200] * (CLIENTS - 1) + [201]
    assert Click.objects.filter(ad=shown).count() == 1
    assert Campaign.objects.get(name="c0").spent_total == Decimal("1")
