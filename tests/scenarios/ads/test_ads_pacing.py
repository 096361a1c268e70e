"""Pacing over a simulated day of traffic, through the serve and click endpoints with the ad
server's clock moved: each hour's spend stays within 25% of the even plan (daily budget / 24),
though traffic is three times heavier at the day's peak than at night. Two paced campaigns
share a two-place slot; every hour has traffic enough to spend both plans."""

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from tests.engine.planted import configure

DAY = datetime(2026, 12, 8, tzinfo=UTC)
DAILY = Decimal("24")  # an even plan of 1.00 an hour: ten clicks at the reserve price of 0.10


@pytest.fixture
def campaigns(store):
    from catalog.models import Item
    from scenarios.ads.models import Ad, Advertiser, Campaign, Slot

    Slot.objects.create(name="home", positions=2, reserve_price=Decimal("0.1"))
    advertiser = Advertiser.objects.create(name="Pacer")
    for n, item in enumerate(("phone-1", "book-1")):
        campaign = Campaign.objects.create(
            advertiser=advertiser,
            name=f"paced-{n}",
            start=DAY - timedelta(days=1),
            end=DAY + timedelta(days=2),
            daily_budget=DAILY,
            total_budget=10 * DAILY,
            bid_per_click=Decimal("0.1"),
        )
        Ad.objects.create(
            ad_id=f"ad-{n}",
            campaign=campaign,
            creative_text="Paced",
            item=Item.objects.get(external_id=item),
        )
    configure("ads", frequency_cap=10_000, exploration_share=0.0)


def requests_in_hour(hour: int) -> int:
    """20 an hour at night, 60 at the 14:00 peak."""
    return round(40 - 20 * math.cos(2 * math.pi * (hour - 2) / 24))


def test_each_hour_spends_within_a_quarter_of_the_even_plan(
    campaigns, read_client, write_client, monkeypatch
):
    from scenarios.ads import pacing
    from scenarios.ads.models import Click

    rng = np.random.default_rng(0)
    users = [f"{group}{n}" for group in "pb" for n in range(1, 7)]
    clock = {"now": DAY}
    monkeypatch.setattr(pacing, "now", lambda: clock["now"])
    served = 0
    for hour in range(24):
        count = requests_in_hour(hour)
        for k in range(count):
            clock["now"] = DAY + timedelta(hours=hour + (k + 0.5) / count)
            user = users[served % len(users)]
            body = read_client.get(
                "/api/v1/ads/serve", {"slot": "home", "user_id": user, "n": 2}
            ).json()
            served += 1
            for item in body["items"]:
                if rng.random() < 0.8:
                    clock["now"] += timedelta(seconds=1)
                    click = {
                        "recommendation_id": body["recommendation_id"],
                        "ad_id": item["ad_id"],
                        "user_id": user,
                    }
                    posted = write_client.post("/api/v1/ads/click", click, format="json")
                    assert posted.status_code == 201
    plan = float(DAILY) / 24
    spend = np.zeros((2, 24))
    for campaign, when, price in Click.objects.values_list(
        "ad__campaign__name", "timestamp", "price"
    ):
        spend[int(campaign[-1]), when.hour] += float(price)
    assert np.abs(spend - plan).max() <= 0.25 * plan, spend.round(2)
    assert spend.sum(axis=1).tolist() == pytest.approx([float(DAILY)] * 2, abs=1.0)
