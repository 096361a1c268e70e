"""Ads on PostgreSQL: parallel clicks (threads, each with its own connection, through the API)
never spend past a campaign's daily budget, and the same click sent by every client charges
once."""

from decimal import Decimal

import pytest

from catalog.models import User
from scenarios.ads.models import Ad, Campaign, Click, Impression, Slot
from tests.engine.planted import plant_store, reset_engine_state
from tests.integration.parallel import post_at_once
from tests.scenarios.ads.contract_case import seed_ads

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CLIENTS = 24


def race(bodies: list[dict]) -> list[int]:
    return post_at_once("/api/v1/ads/click", bodies)


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
