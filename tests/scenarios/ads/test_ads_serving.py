"""Serving: a new ad gets the configured exploration share; the inventory lives in memory, so a
request asks the database the same few questions whatever the number of ads, and sees a
change (a new campaign, a pause) at once."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.engine.planted import configure
from tests.scenarios.ads.contract_case import seed_ads

USERS = [f"{group}{n}" for group in "pb" for n in range(1, 7)]


@pytest.fixture
def trained(store, train_ads):
    seed_ads()
    return train_ads(frequency_cap=10_000)


def add_campaign(name, bid, item="book-3", ad_id=None):
    from catalog.models import Item
    from scenarios.ads.models import Ad, Advertiser, Campaign

    now = timezone.now()
    campaign = Campaign.objects.create(
        advertiser=Advertiser.objects.get_or_create(name="New")[0],
        name=name,
        start=now - timedelta(hours=1),
        end=now + timedelta(days=3),
        daily_budget=1000,
        total_budget=10000,
        bid_per_click=bid,
    )
    return Ad.objects.create(
        ad_id=ad_id or f"ad-{name}",
        campaign=campaign,
        creative_text="New!",
        item=Item.objects.get(external_id=item),
    )


def serve_many(client, times, n=3):
    return [
        client.get(
            "/api/v1/ads/serve", {"slot": "home", "user_id": USERS[k % len(USERS)], "n": n}
        ).json()
        for k in range(times)
    ]


@pytest.mark.parametrize("share", [0.0, 0.4])
def test_a_new_ad_gets_the_exploration_share(trained, read_client, share):
    """The new ad bids least: it is only ever shown as the exploration placement, last, at the
    slot's reserve."""
    add_campaign("fresh", bid=0.1)
    configure("ads", exploration_share=share)
    answers = serve_many(read_client, 200)
    explored = [a["items"][-1] for a in answers if "ad-fresh" in [i["ad_id"] for i in a["items"]]]
    assert all(item["ad_id"] == "ad-fresh" and item["price"] == 0.05 for item in explored)
    assert all(len(a["items"]) == 3 for a in answers)
    if share == 0:
        assert not explored
    else:  # 200 answers at 0.4: 80 expected, sd 6.9
        assert 50 <= len(explored) <= 110, len(explored)


def test_known_ads_are_not_explored(trained, read_client):
    """Ads the served model learned from compete on pCTR x bid only: with every ad known, the
    lowest bidder never shows up in a one-place slot."""
    configure("ads", exploration_share=1.0)
    answers = serve_many(read_client, 30, n=1)
    assert {a["items"][0]["ad_id"] for a in answers} == {"ad-2"}


def queries_of_one_request(client, user_id="p1"):
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/ads/serve", {"slot": "home", "user_id": user_id, "n": 3})
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_a_request_asks_the_same_few_queries_whatever_the_inventory(trained, read_client):
    configure("ads", exploration_share=0.0)
    queries_of_one_request(read_client)  # builds the inventory
    few = queries_of_one_request(read_client)
    for k in range(60):
        add_campaign(f"bulk{k}", bid=0.2 + 0.01 * k, item="phone-3")
    queries_of_one_request(read_client)
    many = queries_of_one_request(read_client)
    assert many == few <= 12, (few, many)


def test_a_new_campaign_serves_at_once_and_a_pause_stops_it(trained, read_client):
    from scenarios.ads.models import Campaign

    configure("ads", exploration_share=0.0)
    serve_many(read_client, 1)
    add_campaign("rich", bid=50)
    assert serve_many(read_client, 1, n=1)[0]["items"][0]["ad_id"] == "ad-rich"
    campaign = Campaign.objects.get(name="rich")
    campaign.status = Campaign.Status.PAUSED
    campaign.save()
    assert serve_many(read_client, 1, n=1)[0]["items"][0]["ad_id"] != "ad-rich"


def test_one_ad_per_campaign_in_an_answer(trained, read_client):
    from catalog.models import Item
    from scenarios.ads.models import Ad, Campaign

    configure("ads", exploration_share=0.0)
    Ad.objects.create(
        ad_id="ad-2b",
        campaign=Campaign.objects.get(name="c2"),
        creative_text="Twin",
        item=Item.objects.get(external_id="phone-3"),
    )
    items = serve_many(read_client, 1)[0]["items"]
    campaigns = [item["campaign_id"] for item in items]
    assert len(campaigns) == len(set(campaigns)) == 3


@pytest.mark.parametrize("family", ["logistic", "deepfm"])
def test_folded_scoring_matches_predict_proba(trained, family):
    """Serving adds each ad's precomputed share of the model to the request's, per department:
    the same pCTR as the model's own forward pass on the strings, also for values the model
    never saw and for a user with purchases in one department only."""
    import numpy as np

    from scenarios.ads.inventory import books
    from scenarios.ads.queries import HistoryCounts
    from scenarios.ads.scenario import FAMILIES, AdsScenario, categorical_columns
    from scenarios.ads.scoring import Scorer

    numeric, categorical, y, _ = AdsScenario().build_dataset({})
    params = {"epochs": 1} if family == "deepfm" else {}
    model = FAMILIES[family](min_count=1, **params).fit(numeric, categorical, y)
    book = books.get()
    scorer = Scorer.build(model, book)
    rows = np.arange(len(book))
    bought = str(book.departments[0])
    for history in (None, HistoryCounts(3, 1, {bought: 2, "nowhere": 1})):
        expected_history = np.zeros((len(rows), 4))
        if history is not None:
            expected_history[:, :3] = 3, 1, 3
            expected_history[:, 3] = np.where(book.departments == bought, 2, 0)
        for context in (("home", "mobile", 9, "25-34", "Paris"), ("nowhere", "", None, "", "")):
            strings = categorical_columns(
                book.ad_ids, book.campaigns, book.categories, *context[:3], *context[3:]
            )
            expected = model.predict_proba(expected_history, strings)
            found = scorer.pctr(
                rows, scorer.context_codes(*context), scorer.department_numeric(history)
            )
            assert np.allclose(found, expected, rtol=1e-5, atol=1e-7)


def test_one_round_trip_reads_the_generation_the_user_their_history_and_capped_campaigns(
    trained,
):
    """What the ORM reads, in one query: no user, an unknown one, one with no history row yet,
    one with a row (purchases by department included); and the campaigns whose impressions to
    the user since the day's start reached the cap (earlier ones and other users' not counted)."""
    from django.db.models import Count

    from catalog.models import User
    from scenarios.ads.inventory import bump_generation, current_generation
    from scenarios.ads.models import Ad, Impression, Slot, UserHistory
    from scenarios.ads.queries import generation_and_viewer

    bump_generation()
    user = User.objects.get(external_id="p1")
    user.segments, user.location, user.age_band = ["vip"], "Lyon", "25-34"
    user.save()
    UserHistory.objects.filter(user=user).delete()
    day = timezone.now() - timedelta(hours=1)
    with CaptureQueriesContext(connection) as captured:
        generation, viewer = generation_and_viewer("p1", day, 2)
    assert len(captured.captured_queries) == 1 and generation == current_generation()
    assert (viewer.pk, viewer.segments, viewer.location, viewer.age_band) == (
        user.pk,
        ["vip"],
        "Lyon",
        "25-34",
    )
    assert viewer.history is None and viewer.capped == frozenset()
    UserHistory.objects.create(user=user, impressions=5, clicks=2, purchases={"books": 3})
    assert generation_and_viewer("p1", day, 2)[1].history == (5, 2, {"books": 3})
    ads, slot = list(Ad.objects.order_by("ad_id")[:3]), Slot.objects.first()
    shown = [
        (user, ads[0], day + timedelta(minutes=1)),
        (user, ads[0], day + timedelta(minutes=2)),
        (user, ads[1], day + timedelta(minutes=3)),
        (user, ads[1], day - timedelta(minutes=1)),  # before the day's start
        (User.objects.get(external_id="p2"), ads[1], day + timedelta(minutes=4)),
        (user, ads[2], day + timedelta(minutes=5)),
    ]
    Impression.objects.bulk_create(
        Impression(
            user=who,
            ad=ad,
            slot=slot,
            recommendation_id=f"r{k}",
            position=1,
            price=0,
            timestamp=when,
        )
        for k, (who, ad, when) in enumerate(shown)
    )
    counts = (
        Impression.objects.filter(user=user, timestamp__gte=day)
        .values_list("ad__campaign_id")
        .annotate(n=Count("pk"))
    )
    capped = generation_and_viewer("p1", day, 2)[1].capped
    assert capped == {campaign for campaign, n in counts if n >= 2}
    assert ads[0].campaign_id in capped and ads[1].campaign_id not in capped
    assert generation_and_viewer("p1", day, 1)[1].capped >= {a.campaign_id for a in ads}
    assert generation_and_viewer("nobody", day, 2) == (generation, None)
    assert generation_and_viewer(None, day, 2) == (generation, None)
