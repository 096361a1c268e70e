"""The products endpoints on the planted store: personalisation, filters, errors, real time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.engine.planted import BOOKS, PHONES

URL = "/api/v1/products/"


def ids(response) -> list[str]:
    return [item["item_id"] for item in response.json()["items"]]


def test_response_shape_and_personalisation(trained, read_client):
    response = read_client.get(URL + "recommendations", {"user_id": "p1", "n": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["scenario"] == "products"
    assert body["model_version"] == trained.pk
    assert body["recommendation_id"].startswith(f"products.{trained.pk}.n.")
    assert body["cold_start"] is False and body["fallback"] is False
    # p1 interacted with phones 1-4, so the two unseen phones come first, never a seen one.
    assert set(ids(response)) == {"phone-5", "phone-6"}
    assert all(item["reason"].startswith("because you ") for item in body["items"])
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_precomputed_lists_were_written_by_scoring(trained):
    from engine.lists import load_list

    entry = load_list("products", trained.pk, "b1")
    assert entry is not None
    assert {item_id for item_id, _, _ in entry["items"][:2]} == {"book-5", "book-6"}


def test_exclude_category_and_price_filters(trained, read_client):
    response = read_client.get(
        URL + "recommendations", {"user_id": "p1", "n": 10, "exclude": "phone-5"}
    )
    assert "phone-5" not in ids(response) and "phone-6" in ids(response)
    response = read_client.get(
        URL + "recommendations", {"user_id": "p1", "n": 10, "category": "books"}
    )
    assert ids(response) and set(ids(response)) <= set(BOOKS)
    # Phone prices are 100, 150, ..., 350: only phone-5 (300) is within [250, 320].
    response = read_client.get(
        URL + "recommendations", {"user_id": "p1", "min_price": 250, "max_price": 320}
    )
    assert ids(response) == ["phone-5"]


def test_filters_reach_past_the_head_of_the_cached_list(trained, read_client):
    """A request reads the head of the cached list first (2n candidates); when filters empty the
    head, the rest of the list answers, as if there were no head."""
    top = read_client.get(URL + "recommendations", {"user_id": "p1", "n": 2})
    assert set(ids(top)) == {"phone-5", "phone-6"}  # the head of p1's list holds phones only
    books = read_client.get(URL + "recommendations", {"user_id": "p1", "n": 1, "category": "books"})
    assert len(ids(books)) == 1 and ids(books)[0] in BOOKS
    rest = read_client.get(
        URL + "recommendations", {"user_id": "p1", "n": 1, "exclude": "phone-5,phone-6"}
    )
    assert ids(rest) and not set(ids(rest)) & {"phone-5", "phone-6"}


def test_diversity_setting_applies_without_retraining(trained, read_client):
    from tests.engine.planted import configure

    focused = ids(read_client.get(URL + "recommendations", {"user_id": "p1", "n": 2}))
    assert set(focused) <= set(PHONES)
    configure("products", diversity=0.9)  # saved as in the admin; no new version
    mixed = read_client.get(URL + "recommendations", {"user_id": "p1", "n": 2}).json()
    assert mixed["model_version"] == trained.pk
    assert [item["item_id"] for item in mixed["items"]][0] == focused[0]
    assert mixed["items"][1]["item_id"] in BOOKS


@pytest.mark.parametrize(
    "params, field",
    [
        ({"user_id": "p1", "n": 0}, "n"),
        ({"user_id": "p1", "n": 1000}, "n"),
        ({"user_id": "p1", "n": "ten"}, "n"),
        ({"user_id": "p1", "min_price": 50, "max_price": 10}, "min_price"),
        ({"user_id": "p1", "min_price": -1}, "min_price"),
        ({"n": 5}, "user_id"),
    ],
)
def test_bad_parameters_are_4xx_with_the_field_named(trained, read_client, params, field):
    response = read_client.get(URL + "recommendations", params)
    assert response.status_code == 400
    assert field in response.content.decode()


def test_unknown_user_gets_flagged_cold_start(trained, read_client):
    body = read_client.get(URL + "recommendations", {"user_id": "stranger"}).json()
    assert body["cold_start"] is True
    assert body["items"] and body["items"][0]["reason"] == "popular right now"


def test_new_user_with_attributes_gets_segment_popular_items(trained, read_client):
    from catalog.models import User

    User.objects.create(external_id="newcomer", age_band="55+")
    body = read_client.get(URL + "recommendations", {"user_id": "newcomer", "n": 3}).json()
    assert body["cold_start"] is True
    assert set(ids_of(body)) <= set(BOOKS)
    assert body["items"][0]["reason"] == "popular in your segment"


def ids_of(body) -> list[str]:
    return [item["item_id"] for item in body["items"]]


@pytest.mark.parametrize("by_signal", [True, False], ids=["stamp-by-signal", "newest-event-query"])
def test_purchase_event_changes_the_next_answer_without_retraining(
    trained, read_client, write_client, django_capture_on_commit_callbacks, settings, by_signal
):
    settings.ENGINE_FRESHNESS_BY_SIGNAL = by_signal
    before = ids(read_client.get(URL + "recommendations", {"user_id": "p1", "n": 2}))
    assert set(before) == {"phone-5", "phone-6"}
    now = timezone.now()
    events = [
        {"user_id": "p1", "item_id": "phone-5", "type": "purchase"},
        {"user_id": "p1", "item_id": "book-1", "type": "purchase"},
        {"user_id": "p1", "item_id": "book-2", "type": "purchase"},
    ]
    for offset, event in enumerate(events):
        event["timestamp"] = (now - timedelta(seconds=10 - offset)).isoformat()
    with django_capture_on_commit_callbacks(execute=True):  # events_ingested runs after commit
        response = write_client.post("/api/v1/events", {"events": events}, format="json")
    assert response.status_code in (200, 201), response.content
    after = read_client.get(URL + "recommendations", {"user_id": "p1", "n": 3}).json()
    assert "phone-5" not in ids_of(after)
    assert after["model_version"] == trained.pk  # same model: fold-in, no retraining
    # Books co-occur with book-1 and book-2 for the b users; they now appear for p1.
    assert set(ids_of(after)) & {"book-3", "book-4", "book-5", "book-6"}


def test_hidden_item_disappears(trained, read_client):
    from catalog.models import Item
    from engine.snapshot import snapshots

    assert "phone-6" in ids(read_client.get(URL + "recommendations", {"user_id": "p1"}))
    Item.objects.filter(external_id="phone-6").update(is_hidden=True)
    snapshots.forget()  # other processes notice within CHECK_SECONDS
    assert "phone-6" not in ids(read_client.get(URL + "recommendations", {"user_id": "p1"}))


def test_an_answer_kept_in_memory_drops_an_item_whose_window_closed(
    trained, read_client, monkeypatch
):
    """Nothing in the catalog changes when an availability window closes: the kept answer of a
    plain request is checked against the clock too."""
    import time

    from catalog.models import Item
    from engine.snapshot import snapshots

    closes = timezone.now() + timedelta(hours=1)
    Item.objects.filter(external_id="phone-6").update(available_until=closes)
    snapshots.forget()
    assert "phone-6" in ids(read_client.get(URL + "recommendations", {"user_id": "p1"}))
    later = closes.timestamp() + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert "phone-6" not in ids(read_client.get(URL + "recommendations", {"user_id": "p1"}))


def test_kept_answer_expires_when_an_availability_window_opens(trained, read_client, monkeypatch):
    """An item launching later is left out of the answer a process keeps; once its window
    opens, with no catalog change, the next answer includes it."""
    import time

    from catalog.models import Item
    from engine.snapshot import snapshots

    opens = timezone.now() + timedelta(hours=1)
    Item.objects.filter(external_id="phone-6").update(available_from=opens)
    snapshots.forget()
    assert "phone-6" not in ids(read_client.get(URL + "recommendations", {"user_id": "p1"}))
    later = opens.timestamp() + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert "phone-6" in ids(read_client.get(URL + "recommendations", {"user_id": "p1"}))


def test_item_outside_its_availability_window_is_not_recommended(trained, read_client):
    from catalog.models import Item
    from engine.snapshot import snapshots

    Item.objects.filter(external_id="phone-5").update(
        available_from=timezone.now() + timedelta(days=1)
    )
    snapshots.forget()
    assert ids(read_client.get(URL + "recommendations", {"user_id": "p1", "n": 10}))[0] == "phone-6"
    assert "phone-5" not in ids(read_client.get(URL + "recommendations", {"user_id": "p1"}))


def test_similar_items_and_errors(trained, read_client):
    response = read_client.get(URL + "similar", {"item_id": "book-1", "n": 3})
    assert response.status_code == 200
    assert set(ids(response)) <= set(BOOKS) - {"book-1"}
    assert response.json()["items"][0]["reason"] == (
        "shoppers who liked Novel volume 1 also liked this"
    )
    assert read_client.get(URL + "similar", {"item_id": "nope"}).status_code == 404
    assert read_client.get(URL + "similar", {"item_id": "book-1", "n": 0}).status_code == 400


@pytest.mark.parametrize("exact_search_max_items", [50_000, 1], ids=["exact", "faiss"])
def test_similar_items_of_a_vector_model_come_from_its_saved_index(
    store, train_products, read_client, exact_search_max_items
):
    """Models with item vectors answer similar items from an index saved with the version:
    exact search for small catalogs, faiss (recall measured at training) above the limit."""
    from ml.index import ExactIndex, load_index
    from scenarios.products.state import SIMILAR_INDEX

    version = train_products(
        model="als",
        hyperparameters={"factors": 8, "iterations": 10},
        exact_search_max_items=exact_search_max_items,
    )
    assert version.status == "promoted", version.error
    index = load_index(f"{version.artifact_path}/{SIMILAR_INDEX}")
    assert isinstance(index, ExactIndex) == (exact_search_max_items > 1)
    if exact_search_max_items == 1:
        assert version.metrics["similar_items_recall@10"] >= 0.95
    response = read_client.get(URL + "similar", {"item_id": "book-1", "n": 3})
    assert response.status_code == 200
    assert set(ids(response)) <= set(BOOKS) - {"book-1"}
    assert response.json()["items"][0]["reason"].startswith("shoppers who liked")


def test_new_item_appears_in_similar_lists_before_any_interaction(trained, read_client):
    from catalog.models import Item
    from engine.snapshot import snapshots

    Item.objects.create(
        external_id="phone-new", title="Phone model 7 pro", category="electronics/phones"
    )
    snapshots.forget()  # other processes notice within CHECK_SECONDS
    body = read_client.get(URL + "similar", {"item_id": "phone-1", "n": 10}).json()
    assert "phone-new" in ids_of(body)
    new_entry = next(i for i in body["items"] if i["item_id"] == "phone-new")
    assert new_entry["reason"] == "new, similar to Phone model 1"
    # and the new item itself gets content neighbours: phones, not books
    body = read_client.get(URL + "similar", {"item_id": "phone-new", "n": 3}).json()
    assert set(ids_of(body)) <= set(PHONES)


def test_basket_suggests_items_bought_together(trained, read_client):
    response = read_client.post(
        URL + "basket", {"item_ids": ["book-1", "book-2"], "n": 2}, format="json"
    )
    assert response.status_code == 200
    assert set(ids(response)) <= set(BOOKS) - {"book-1", "book-2"}
    assert response.json()["items"][0]["reason"].startswith("often bought with Novel volume")
    missing = read_client.post(URL + "basket", {"item_ids": ["ghost"]}, format="json")
    assert missing.status_code == 404
    assert read_client.post(URL + "basket", {"item_ids": []}, format="json").status_code == 400


def test_trending_window(trained, read_client):
    body = read_client.get(URL + "trending", {"window": "day", "n": 3}).json()
    assert len(body["items"]) == 3
    assert body["items"][0]["reason"] == "trending today"
    response = read_client.get(URL + "trending", {"window": "year"})
    assert response.status_code == 400 and "window" in response.content.decode()


def test_never_trained_scenario_answers_from_popularity_and_says_so(store, read_client):
    body = read_client.get(URL + "recommendations", {"user_id": "p1", "n": 3}).json()
    assert body["fallback"] is True and body["model_version"] is None
    assert len(body["items"]) == 3
    assert read_client.get(URL + "similar", {"item_id": "phone-1"}).json()["fallback"] is True


def test_recommendations_need_an_api_key(trained, api_client):
    assert api_client.get(URL + "recommendations", {"user_id": "p1"}).status_code == 401


def test_products_never_answers_with_articles(store, train_products, read_client):
    """Articles are catalog items too (the content scenario's kind): read by the same users as
    phones, popular, similar in title and category, yet products never trains on them or
    answers with them, on any of its endpoints."""
    from catalog.models import Interaction, Item, User

    articles = [
        Item.objects.create(
            external_id=f"guide-{n}",
            kind="article",
            title=f"Phone model {n} buying guide",
            category="electronics/phones",
        )
        for n in range(1, 4)
    ]
    now = timezone.now()
    Interaction.objects.bulk_create(
        Interaction(user=user, item=article, event_type="purchase", timestamp=now)
        for user in User.objects.all()
        for article in articles
    )
    version = train_products(model="itemknn")
    assert version.status == "promoted", version.error
    assert version.data_snapshot["items"] == len(PHONES) + len(BOOKS)

    def answered(response):
        assert response.status_code == 200, response.content
        return set(ids(response))

    served = answered(read_client.get(URL + "recommendations", {"user_id": "p1", "n": 20}))
    served |= answered(read_client.get(URL + "recommendations", {"user_id": "stranger", "n": 20}))
    served |= answered(read_client.get(URL + "similar", {"item_id": "phone-1", "n": 20}))
    served |= answered(
        read_client.post(URL + "basket", {"item_ids": ["phone-1"], "n": 20}, format="json")
    )
    served |= answered(read_client.get(URL + "trending", {"window": "day", "n": 20}))
    assert served and not served & {article.external_id for article in articles}
    missing = read_client.get(URL + "similar", {"item_id": "guide-1"})
    assert missing.status_code == 404  # not an item products knows


@pytest.mark.parametrize("model", ["popularity", "ensemble", "seqknn"])
def test_every_offered_family_answers_every_endpoint(store, train_products, read_client, model):
    """The settings offer every top-N family: seqknn is fitted on event times, not weights; one
    without item similarity (popularity) answers similar items from content rather than fail."""
    from ml.base import topn_family_names
    from scenarios.products.scenario import MODEL_FAMILIES

    assert topn_family_names() == MODEL_FAMILIES and "seqknn" in MODEL_FAMILIES
    version = train_products(model=model)
    assert version.status == "promoted", version.error
    for response in (
        read_client.get(URL + "recommendations", {"user_id": "b1", "n": 3}),
        read_client.get(URL + "similar", {"item_id": "book-1", "n": 3}),
        read_client.post(URL + "basket", {"item_ids": ["book-1"], "n": 3}, format="json"),
    ):
        assert response.status_code == 200, response.json()
        assert ids(response)
