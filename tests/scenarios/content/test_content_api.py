"""Content on the embedded default: the feed (never read, explained, fresh), related articles,
the item kinds each scenario answers, article upserts and the admin's read statistics."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from catalog.models import Interaction, Item, User
from engine.versions import request_training
from scenarios.content.models import FeedExposure
from tests.engine.planted import BOOKS, PHONES, configure
from tests.scenarios.content.contract_case import CASE, TEXTS, seed_articles

FEED = "/api/v1/content/feed"
RELATED = "/api/v1/content/related"
ARTICLES = "/api/v1/content/articles"


@pytest.fixture
def articles(store):
    seed_articles()
    configure("content", **CASE.settings)


@pytest.fixture
def train(django_capture_on_commit_callbacks):
    def train_once(slug="content"):
        with django_capture_on_commit_callbacks(execute=True):
            version = request_training(slug, triggered_by="test")
        version.refresh_from_db()
        assert version.status == "promoted", version.error
        return version

    return train_once


@pytest.fixture
def trained(articles, train):
    return train()


def read_ids(user_id: str) -> set[str]:
    return set(
        Interaction.objects.filter(user__external_id=user_id, item__kind="article").values_list(
            "item__external_id", flat=True
        )
    )


def test_the_feed_leaves_out_what_the_reader_read_and_explains_each_item(trained, read_client):
    body = read_client.get(FEED, {"user_id": "p1", "n": 10}).json()
    ids = [item["item_id"] for item in body["items"]]
    assert body["model_version"] == trained.pk and not body["fallback"]
    assert ids and not set(ids) & read_ids("p1")
    assert all(item["reason"] for item in body["items"])
    # p1 reads phone guides: the unread phone guides come before any book review
    phone_guides = [i for i in ids if i.startswith("phone-guide")]
    assert phone_guides and ids[: len(phone_guides)] == phone_guides
    reasons = " ".join(item["reason"] for item in body["items"][: len(phone_guides)])
    assert "Phone guide" in reasons  # "because you read “Phone guide 2”" or its readers
    shown = FeedExposure.objects.get(recommendation_id=body["recommendation_id"])
    assert shown.user.external_id == "p1" and shown.item_ids == ids


def test_a_read_changes_the_next_feed_without_retraining(trained, read_client, write_client):
    first = read_client.get(FEED, {"user_id": "p1", "n": 10}).json()["items"][0]["item_id"]
    event = {"user_id": "p1", "item_id": first, "type": "read", "value": 90.0}
    assert write_client.post("/api/v1/events", {"events": [event]}, format="json").status_code in (
        200,
        201,
    )
    again = read_client.get(FEED, {"user_id": "p1", "n": 10}).json()["items"]
    assert first not in [item["item_id"] for item in again]


def test_a_new_article_without_reads_is_recommended_from_its_text(trained, read_client):
    Item.objects.create(
        external_id="phone-guide-new",
        kind="article",
        title="Which phone camera is best",
        description=TEXTS["phone"] + " New this week.",
        category="electronics/phones",
    )
    body = read_client.get(FEED, {"user_id": "p2", "n": 10}).json()
    ids = [item["item_id"] for item in body["items"]]
    assert "phone-guide-new" in ids
    first_book = next(i for i, item_id in enumerate(ids) if item_id.startswith("book"))
    assert ids.index("phone-guide-new") < first_book


def test_a_reader_without_reads_gets_popular_and_new_articles(trained, read_client):
    User.objects.create(external_id="newcomer")
    body = read_client.get(FEED, {"user_id": "newcomer", "n": 5}).json()
    assert body["cold_start"] is True and len(body["items"]) == 5
    assert all(item["reason"] for item in body["items"])


def test_the_half_life_setting_moves_new_articles_up(trained, read_client):
    """A day's half-life makes a brand-new book review beat p1's month-old phone guides."""
    Item.objects.create(
        external_id="book-review-today",
        kind="article",
        title="Today's novel review",
        description=TEXTS["book"],
        category="books/fiction",
    )

    def rank_of_new():
        ids = [
            i["item_id"] for i in read_client.get(FEED, {"user_id": "p1", "n": 20}).json()["items"]
        ]
        return ids.index("book-review-today")

    slow = rank_of_new()
    configure("content", half_life_days=0.01)
    assert rank_of_new() <= slow


def test_an_untrained_feed_is_newest_first(articles, read_client):
    body = read_client.get(FEED, {"user_id": "p1", "n": 4}).json()
    assert body["fallback"] is True
    published = dict(
        Item.objects.filter(kind="article").values_list("external_id", "attributes__published_at")
    )
    stamps = [published[item["item_id"]] for item in body["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert not {item["item_id"] for item in body["items"]} & read_ids("p1")


def test_related_puts_the_products_own_guide_first(trained, read_client):
    body = read_client.get(RELATED, {"item_id": "phone-3", "n": 4}).json()
    assert body["items"][0] == {
        "item_id": "phone-guide-3",
        "score": body["items"][0]["score"],
        "reason": "a buying guide for Phone model 3",
    }
    assert all(item["item_id"].startswith("phone-guide") for item in body["items"])
    review = read_client.get(RELATED, {"item_id": "book-2", "n": 1}).json()["items"][0]
    assert review["item_id"] == "book-guide-2" and review["reason"].startswith("a review of")


def test_related_to_an_article_is_more_of_its_kind(trained, read_client):
    body = read_client.get(RELATED, {"item_id": "book-guide-1", "n": 3}).json()
    ids = [item["item_id"] for item in body["items"]]
    assert ids and "book-guide-1" not in ids
    assert all(i.startswith("book-guide") for i in ids)


def test_products_never_answers_articles_and_content_never_products(trained, train, read_client):
    configure("products", model="itemknn")
    train("products")
    articles = set(Item.objects.filter(kind="article").values_list("external_id", flat=True))
    for user_id in ("p1", "b1"):
        products = read_client.get(
            "/api/v1/products/recommendations", {"user_id": user_id, "n": 50}
        ).json()
        assert products["items"] and not {i["item_id"] for i in products["items"]} & articles
        feed = read_client.get(FEED, {"user_id": user_id, "n": 50}).json()
        assert feed["items"] and {i["item_id"] for i in feed["items"]} <= articles
    similar = read_client.get("/api/v1/products/similar", {"item_id": "phone-1", "n": 50}).json()
    assert not {i["item_id"] for i in similar["items"]} & articles
    related = read_client.get(RELATED, {"item_id": "phone-1", "n": 50}).json()
    assert related["items"] and {i["item_id"] for i in related["items"]} <= articles


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        (RELATED, {"item_id": "no-such-item"}, "detail"),
        (RELATED, {"item_id": "phone-1", "n": 0}, "n"),
        (RELATED, {"item_id": "phone-1", "n": 101}, "n"),
        (RELATED, {"n": 3}, "item_id"),
        (FEED, {"user_id": "p1", "n": 0}, "n"),
        (FEED, {"user_id": "p1", "n": 101}, "n"),
        (FEED, {"user_id": "p1", "n": "ten"}, "n"),
        (FEED, {"n": 3}, "user_id"),
    ],
)
def test_bad_requests_are_a_400_naming_the_problem(trained, read_client, url, params, field):
    response = read_client.get(url, params)
    assert response.status_code == 400, response.content
    body = response.json()
    if field == "detail":
        assert "no-such-item" in body["detail"]
    else:
        assert field in {error["field"] for error in body["errors"]}


def article(**overrides):
    return {
        "item_id": "guide-x",
        "title": "Choosing a phone",
        "text": "What matters when you buy a phone.",
        "author": "Ada",
        "published_at": "2026-01-05T10:00:00Z",
        "products": [PHONES[0]],
        "format": "guide",
        **overrides,
    }


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": None}, "text"),
        ({"products": ["no-such-product"]}, "products"),
        ({"products": ["guide-x"]}, "products"),  # an article is not a product
        ({"format": "podcast"}, "format"),
        ({"item_id": BOOKS[0]}, "item_id"),  # a product cannot become an article
    ],
)
def test_an_article_upsert_with_bad_fields_is_refused_whole(store, write_client, bad, field):
    good = article(item_id="guide-ok")
    payload = {"articles": [good, article(**bad)]}
    if bad == {"text": None}:
        del payload["articles"][1]["text"]
    response = write_client.post(ARTICLES, payload, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert {"index": 1, "field": field} == {k: errors[0][k] for k in ("index", "field")}
    assert not Item.objects.filter(external_id="guide-ok").exists()


def test_an_article_upsert_writes_catalog_items_of_kind_article(store, write_client, read_client):
    response = write_client.post(ARTICLES, {"articles": [article()]}, format="json")
    assert response.json() == {"created": 1, "updated": 0}
    item = Item.objects.get(external_id="guide-x")
    assert item.kind == "article" and item.description.startswith("What matters")
    assert item.attributes["products"] == [PHONES[0]] and item.attributes["author"] == "Ada"
    again = write_client.post(ARTICLES, {"articles": [article(title="New title")]}, format="json")
    assert again.json() == {"created": 0, "updated": 1}
    assert read_client.post(ARTICLES, {"articles": [article()]}, format="json").status_code == 403


def test_an_article_without_text_from_the_items_api_is_never_served(trained, read_client):
    Item.objects.create(external_id="empty-article", kind="article", title="Phone guide empty")
    for params in ({"user_id": "newcomer-2", "n": 50}, {"user_id": "p1", "n": 50}):
        ids = [i["item_id"] for i in read_client.get(FEED, params).json()["items"]]
        assert "empty-article" not in ids


def test_the_admin_lists_reads_and_average_dwell_per_article(trained, admin_client):
    response = admin_client.get("/admin/content/article/?q=phone-guide-1")
    assert response.status_code == 200
    page = response.content.decode()
    reads = Interaction.objects.filter(item__external_id="phone-guide-1", event_type="read")
    dwell = sum(reads.values_list("value", flat=True)) / reads.count()
    assert f">{reads.count()}<" in page and f">{dwell:.0f}<" in page
    article_pk = Item.objects.get(external_id="phone-guide-1").pk
    change = admin_client.get(f"/admin/content/article/{article_pk}/change/")
    assert change.status_code == 200 and "phone-1" in change.content.decode()
    response = admin_client.post(
        f"/admin/content/article/{article_pk}/change/",
        {
            "external_id": "phone-guide-1",
            "title": "Phone guide 1",
            "description": "   ",
            "category": "electronics/phones",
            "tags": "[]",
            "format": "guide",
            "products": "phone-1, nope",
        },
    )
    assert response.status_code == 200  # the form again, with both errors
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"description", "products"} and "nope" in str(errors["products"])


def test_publication_in_the_future_waits(trained, read_client):
    Item.objects.create(
        external_id="phone-guide-later",
        kind="article",
        title="Coming soon",
        description=TEXTS["phone"],
        attributes={"published_at": (timezone.now() + timedelta(days=2)).isoformat()},
    )
    ids = [i["item_id"] for i in read_client.get(FEED, {"user_id": "p1", "n": 50}).json()["items"]]
    assert ids and "phone-guide-later" not in ids


def test_the_tensorflow_encoder_trains_is_promoted_and_serves_from_numpy(
    articles, train, read_client
):
    configure("content", text_encoder="tf", hyperparameters={"dim": 8, "epochs": 2})
    version = train()
    assert version.algorithm == "hybrid" and len(version.history["loss"]) == 2
    assert {"ndcg@10", "coverage@10", "text_weight", "freshness_weight"} <= set(version.metrics)
    body = read_client.get(FEED, {"user_id": "b3", "n": 3}).json()
    assert body["model_version"] == version.pk and len(body["items"]) == 3
    # What serving reads of the artifact loads and encodes a new text without TensorFlow.
    script = (
        "import sys\n"
        "from ml.models.article_text import TextEncoder\n"
        "from ml.base import Model\n"
        "import ml.models.itemknn\n"
        f"folder = {version.artifact_path!r}\n"
        "vector = TextEncoder.load(folder + '/encoder').encode(['a new phone guide'])\n"
        "Model.load(folder + '/co_reads')\n"
        "assert vector.shape == (1, 8)\n"
        "assert 'tensorflow' not in sys.modules, 'serving imported TensorFlow'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=Path.cwd()
    )
    assert done.returncode == 0, done.stderr


def test_the_generic_endpoint_filters_the_feed_by_topic_and_exclusions(trained, read_client):
    body = read_client.get(
        "/api/v1/scenarios/content/recommendations",
        {"user_id": "p1", "n": 20, "category": "books", "exclude": "book-guide-1"},
    ).json()
    ids = [item["item_id"] for item in body["items"]]
    assert ids and all(i.startswith("book-guide") for i in ids) and "book-guide-1" not in ids
