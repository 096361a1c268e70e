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
