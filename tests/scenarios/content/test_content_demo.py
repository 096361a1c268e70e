"""The demo: 300+ articles in English and Chinese linked to demo products, reads with dwell
times that follow the hidden tastes, and a first model that learns them."""

import io

import numpy as np
import pytest

from catalog.models import Interaction, Item
from engine.models import ModelVersion
from ml.datasets.content_demo import generate_articles, generate_reads
from scenarios.content.demo import seed


@pytest.fixture
def demo_store(db, django_capture_on_commit_callbacks):
    """A small catalog (100 products of three demo categories, 120 shoppers), then the hook as
    ``seed_demo`` calls it."""
    from catalog.models import User
    from engine.models import ScenarioConfig

    Item.objects.bulk_create(
        Item(external_id=f"p{i}", title=f"Product {i}", category=category)
        for i, category in enumerate(["electronics/phones", "books/fiction", "home/garden"] * 34)
    )
    User.objects.bulk_create(User(external_id=f"u{i}") for i in range(120))
    config = ScenarioConfig.for_slug("content")
    config.settings = {**config.settings, "text_encoder": "tfidf_svd"}  # fast here
    config.save()
    with django_capture_on_commit_callbacks(execute=True):
        seed(rng=np.random.default_rng(0), stdout=io.StringIO(), scale=0.15)


def test_the_demo_writes_linked_articles_in_two_languages_and_trains(demo_store):
    articles = Item.objects.filter(kind="article", external_id__startswith="content-")
    assert articles.count() >= 300
    languages = {a.attributes["language"] for a in articles}
    assert languages == {"en", "zh"}
    products = set(Item.objects.filter(kind="product").values_list("external_id", flat=True))
    assert all(
        a.attributes["products"] and set(a.attributes["products"]) <= products for a in articles
    )
    assert all(a.description.strip() and a.attributes["author"] for a in articles)
    reads = Interaction.objects.filter(event_type="read", item__in=articles)
    assert reads.count() > 1000 and not reads.filter(value__isnull=True).exists()
    version = ModelVersion.objects.get(scenario="content")
    assert version.status == "promoted", version.error
    assert version.metrics["ndcg@10"] > 0.05


def test_seeding_again_adds_nothing(demo_store):
    count = Item.objects.filter(kind="article").count()
    out = io.StringIO()
    seed(rng=np.random.default_rng(1), stdout=out, scale=1.0)
    assert (
        Item.objects.filter(kind="article").count() == count and "exist already" in out.getvalue()
    )


def test_reads_follow_the_hidden_tastes_and_dwell_longer_on_them():
    rng = np.random.default_rng(0)
    categories = ["electronics/phones", "books/fiction", "home/garden"] * 10
    articles = generate_articles(
        rng,
        [f"p{i}" for i in range(30)],
        [f"Thing {i}" for i in range(30)],
        categories,
        300,
        0,
        40 * 86400,
    )
    reads = generate_reads(rng, articles, 200, 0, 40 * 86400)
    topics = sorted(set(categories))
    topic_of = np.array([topics.index(t) for t in articles.topics])
    match = reads.tastes[reads.users, topic_of[reads.articles]]
    chance = reads.tastes.mean()
    assert match.mean() > chance + 0.3  # readers read their topics
    liked = match > 0.5
    assert np.median(reads.dwell[liked]) > 2 * np.median(reads.dwell[~liked])
    assert (articles.published[reads.articles] <= reads.times).all()  # never before publication


def test_a_store_too_small_gets_no_content_demo(db):
    from catalog.models import User

    Item.objects.create(external_id="p1", title="Only product", category="home/garden")
    User.objects.create(external_id="u1")
    out = io.StringIO()
    seed(rng=np.random.default_rng(0), stdout=out, scale=0.05)
    assert (
        not Item.objects.filter(kind="article").exists() and "needs 100 products" in out.getvalue()
    )
