"""The CTR model's user-history features: counted from the past only when training, read from
the user's history row when serving, and kept current by impressions, clicks and purchases."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from tests.scenarios.ads.contract_case import seed_ads


@pytest.fixture
def seeded(store):
    seed_ads()


def log(user, ad, when, clicked, n):
    from scenarios.ads.models import Click, Impression, Slot

    rec = f"log-{n}"
    slot = Slot.objects.get(name="home")
    Impression.objects.create(
        user=user, ad=ad, slot=slot, recommendation_id=rec, position=1, price=0.1, timestamp=when
    )
    if clicked:
        Click.objects.create(user=user, ad=ad, recommendation_id=rec, price=0.1, timestamp=when)


def test_training_features_count_only_what_came_before_each_impression(store):
    from catalog.models import User
    from scenarios.ads.models import Ad, Click, Impression, UserHistory
    from scenarios.ads.scenario import AdsScenario

    seed_ads()
    Click.objects.all().delete()
    Impression.objects.all().delete()
    user, now = User.objects.get(external_id="p1"), timezone.now()  # bought a phone 10 h ago
    phone_ad = Ad.objects.get(ad_id="ad-1")
    log(user, phone_ad, now - timedelta(days=2), True, 0)
    log(user, phone_ad, now - timedelta(hours=1), False, 1)
    log(user, Ad.objects.get(ad_id="ad-0"), now - timedelta(minutes=30), True, 2)
    log(User.objects.get(external_id="b1"), phone_ad, now - timedelta(minutes=5), False, 3)
    rows = list(UserHistory.objects.order_by("pk").values())
    numeric, _, y, totals = AdsScenario().build_dataset({})
    assert y.tolist() == [1, 0, 1, 0]
    # shown before, clicked before, purchases before, purchases in the ad's department before
    assert numeric.tolist() == [[0, 0, 0, 0], [1, 1, 1, 1], [2, 1, 1, 0], [0, 0, 1, 0]]
    assert totals[user.pk] == {"impressions": 3, "clicks": 2, "purchases": {"electronics": 1}}
    # Reading the log writes nothing: a training writes the totals.
    assert list(UserHistory.objects.order_by("pk").values()) == rows


def test_serving_and_clicks_and_purchases_keep_the_history_row_current(
    seeded, read_client, write_client, django_capture_on_commit_callbacks
):
    from scenarios.ads.models import UserHistory

    shown = UserHistory.objects.get(user__external_id="p1").impressions  # the seed's log
    body = read_client.get("/api/v1/ads/serve", {"slot": "home", "user_id": "p1", "n": 3}).json()
    history = UserHistory.objects.get(user__external_id="p1")
    assert (history.impressions, history.clicks) == (shown + 3, 0)
    click = {
        "recommendation_id": body["recommendation_id"],
        "ad_id": body["items"][0]["ad_id"],
        "user_id": "p1",
    }
    assert write_client.post("/api/v1/ads/click", click, format="json").status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        posted = write_client.post(
            "/api/v1/events",
            {"event_id": "buy-1", "user_id": "p1", "item_id": "book-2", "type": "purchase"},
            format="json",
        )
    assert posted.status_code in (200, 201), posted.content
    history.refresh_from_db()
    assert history.clicks == 1
    assert history.purchases == {"electronics": 1, "books": 1}


def test_a_users_history_moves_their_pctr(store, read_client, train_ads):
    """Half the users click a lot, half rarely, whatever their attributes: only the history
    features can tell them apart, so a trained model must rank a clicker's ads higher."""
    from catalog.models import User
    from scenarios.ads.models import Ad, UserHistory

    seed_ads()
    rng, now, n = np.random.default_rng(0), timezone.now(), 0
    ads = list(Ad.objects.order_by("ad_id"))
    for user in User.objects.all():
        clicker = int(user.external_id[1:]) <= 3
        for k in range(30):
            n += 1
            when = now - timedelta(days=3, minutes=30 - k)
            log(user, ads[k % 3], when, rng.random() < (0.6 if clicker else 0.05), n)
    train_ads()
    pctr = {}
    for user_id, clicks in (("p4", 1), ("p5", 20)):
        UserHistory.objects.filter(user__external_id=user_id).update(impressions=40, clicks=clicks)
        body = read_client.get("/api/v1/ads/serve", {"slot": "home", "user_id": user_id, "n": 3})
        pctr[user_id] = {item["ad_id"]: item["pctr"] for item in body.json()["items"]}
    assert set(pctr["p4"]) == set(pctr["p5"])
    assert all(pctr["p5"][ad] > 2 * pctr["p4"][ad] for ad in pctr["p4"]), pctr


def test_the_database_counts_every_impression_of_a_known_user(seeded):
    """The trigger of migration 0003: an impression written by any path (here the ORM) adds one
    to the user's row, creating it on first use; an anonymous impression counts nowhere."""
    from catalog.models import User
    from scenarios.ads.models import Ad, Impression, Slot, UserHistory

    user = User.objects.get(external_id="b2")
    UserHistory.objects.filter(user=user).delete()
    ad, slot = Ad.objects.get(ad_id="ad-0"), Slot.objects.get(name="home")
    rows = UserHistory.objects.count()
    for n, who in enumerate([user, user, None]):
        Impression.objects.create(
            user=who, ad=ad, slot=slot, recommendation_id=f"t-{n}", position=1, price=0.1
        )
    assert (UserHistory.objects.get(user=user).impressions, UserHistory.objects.count()) == (
        2,
        rows + 1,
    )
