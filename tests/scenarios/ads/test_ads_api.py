"""The ad server's own endpoints: positions, 400s, a click charged once, pauses at once."""

from decimal import Decimal

import pytest

from tests.scenarios.ads.contract_case import seed_ads


@pytest.fixture
def seeded(store):
    seed_ads()


def serve(client, **params):
    return client.get("/api/v1/ads/serve", {"slot": "home", "user_id": "p1", "n": 3, **params})


def click(client, body, ad_id=None):
    return client.post(
        "/api/v1/ads/click",
        {
            "recommendation_id": body["recommendation_id"],
            "ad_id": ad_id or body["items"][0]["ad_id"],
            "user_id": "p1",
        },
        format="json",
    )


def test_serve_ranks_by_value_with_positions_and_prices_under_the_bid(seeded, read_client):
    from scenarios.ads.models import Ad, Impression

    body = serve(read_client).json()
    assert [item["position"] for item in body["items"]] == [1, 2, 3]
    assert body["items"][0]["ad_id"] == "ad-2"  # the highest bid at the same prior CTR
    for item in body["items"]:
        bid = float(Ad.objects.get(ad_id=item["ad_id"]).campaign.bid_per_click)
        assert 0.05 <= item["price"] <= bid
    assert Impression.objects.filter(recommendation_id=body["recommendation_id"]).count() == 3


@pytest.mark.parametrize("params", [{"slot": "nowhere"}, {"n": 4}, {"hour": 24}])
def test_bad_serve_requests_are_400s(seeded, read_client, params):
    response = serve(read_client, **params)
    assert response.status_code == 400, response.content


def test_a_click_is_charged_once_and_needs_an_impression(seeded, read_client, write_client):
    from scenarios.ads.models import Ad, Click

    body = serve(read_client).json()
    first = click(write_client, body)
    assert first.status_code == 201 and first.json()["charged"] > 0
    again = click(write_client, body)
    assert again.status_code == 200 and again.json() == {"charged": 0.0, "duplicate": True}
    campaign = Ad.objects.get(ad_id=body["items"][0]["ad_id"]).campaign
    assert campaign.spent_total == Decimal(str(first.json()["charged"]))
    before = Click.objects.count()
    assert click(write_client, {"recommendation_id": "never-served"}, "ad-0").status_code == 400
    assert Click.objects.count() == before


def test_a_paused_campaign_stops_at_once(seeded, read_client):
    from scenarios.ads.models import Campaign

    Campaign.objects.filter(name="c2").update(status=Campaign.Status.PAUSED)
    ads = [item["ad_id"] for item in serve(read_client, n=2).json()["items"]]
    assert "ad-2" not in ads and ads


def test_an_exhausted_budget_is_never_served(seeded, read_client):
    from scenarios.ads.models import Campaign

    Campaign.objects.filter(name="c2").update(spent_total=10000)
    assert "ad-2" not in [item["ad_id"] for item in serve(read_client, n=2).json()["items"]]


def test_the_frequency_cap_counts_the_users_impressions_of_a_campaign_today(seeded, read_client):
    """Cap 2: the top campaign shows twice to p1 today, then gives way; yesterday's seeded
    impressions of it do not count, and another user still gets it."""
    from tests.engine.planted import configure

    configure("ads", frequency_cap=2, exploration_share=0.0)
    tops = [serve(read_client, n=1).json()["items"][0]["ad_id"] for _ in range(4)]
    assert tops[:2] == ["ad-2", "ad-2"] and "ad-2" not in tops[2:], tops
    assert serve(read_client, n=1, user_id="p2").json()["items"][0]["ad_id"] == "ad-2"


def test_dates_and_todays_spend_are_read_live(seeded, read_client):
    """Changes written around the admin (no signal) still count on the next request: an ended
    campaign and one that spent its daily budget today stop; yesterday's spend does not."""
    from datetime import timedelta

    from django.utils import timezone

    from scenarios.ads.models import Campaign

    today = timezone.now().date()
    serve(read_client)  # the inventory is built before the changes
    Campaign.objects.filter(name="c2").update(end=timezone.now() - timedelta(minutes=1))
    Campaign.objects.filter(name="c1").update(spent_today=1000, spend_day=today)
    Campaign.objects.filter(name="c0").update(spent_today=1000, spend_day=today - timedelta(days=1))
    assert [item["ad_id"] for item in serve(read_client).json()["items"]] == ["ad-0"]


def test_impressions_are_logged_as_the_orm_reads_them(seeded, read_client):
    """The serve path writes its rows in plain SQL: read back through the ORM they hold the
    answer's ads, positions, prices, context and time, and the user's history counts them."""
    from django.utils import timezone

    from scenarios.ads.models import Impression, UserHistory

    before = UserHistory.objects.filter(user__external_id="p1").first()
    before = before.impressions if before else 0
    body = serve(read_client, device="mobile", hour=9).json()
    rows = list(
        Impression.objects.filter(recommendation_id=body["recommendation_id"]).order_by("position")
    )
    assert [(r.ad.ad_id, r.position, float(r.price)) for r in rows] == [
        (item["ad_id"], item["position"], item["price"]) for item in body["items"]
    ]
    assert {(r.user.external_id, r.slot.name, r.device, r.hour) for r in rows} == {
        ("p1", "home", "mobile", 9)
    }
    assert all(abs((timezone.now() - r.timestamp).total_seconds()) < 60 for r in rows)
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    assert Impression.objects.filter(timestamp__gte=midnight).count() == 3  # an ORM time filter
    assert UserHistory.objects.get(user__external_id="p1").impressions == before + 3


PLAIN_QUERIES = {
    "slot=home",
    "slot=home&user_id=p1&n=3&device=mobile&hour=0",
    "slot=home&n=1&hour=23&item_id=book-1",
    "slot=home&user_id=p1&user_id=p2",
}


@pytest.mark.parametrize(
    "query",
    [
        *sorted(PLAIN_QUERIES),
        "slot=home&n=0",
        "slot=home&n=101",
        "slot=home&n=%20%203",
        "slot=home&n=3.0",
        "slot=home&hour=24",
        "slot=home&hour=-1",
        "slot=home&hour=%D9%A3",  # an Arabic-Indic digit
        "slot=%20home%20",
        "slot=",
        "slot=home&device=" + "d" * 33,
        "slot=home&user_id=a%00b",
        "slot=home&user_id=a%09b",
        "slot=home&colour=red",
        "n=3",
    ],
)
def test_the_plain_query_read_gives_what_the_serializer_gives(query):
    """A query read directly is the request SlotQuery makes of it; any other goes to SlotQuery."""
    from django.http import QueryDict
    from rest_framework.exceptions import ValidationError

    from engine.kinds import SlotQuery
    from scenarios.ads.api import plain_request

    params = QueryDict(query)
    try:
        expected = SlotQuery.request_from(params)
    except ValidationError:
        expected = None
    found = plain_request(params)
    assert found is None or found == expected, (found, expected)
    assert (found is not None) == (query in PLAIN_QUERIES), query
