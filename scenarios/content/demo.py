"""``manage.py seed_demo`` hook: at least 300 articles in English and Chinese about the demo
products, and a read log (with dwell times) that follows hidden topic preferences
(:mod:`ml.datasets.content_demo`); then a first content model is queued."""

from datetime import UTC, datetime

import numpy as np
from django.utils import timezone

from catalog.models import Interaction, Item, User
from engine.models import ModelVersion
from engine.versions import request_training
from ml.datasets.content_demo import DAY, generate_articles, generate_reads

MIN_ARTICLES = 300
MIN_PRODUCTS = 100  # a smaller store (a test's) gets no content demo: 300 articles would swamp it
DAYS = 42


def seed(*, rng, stdout, scale):
    if Item.objects.filter(external_id__startswith="content-", kind="article").exists():
        stdout.write("content: demo articles exist already; none added")
        return
    products = list(
        Item.objects.filter(kind="product")
        .order_by("pk")
        .values_list("external_id", "title", "category")
    )
    users = list(User.objects.order_by("pk").values_list("pk", flat=True))
    if len(products) < MIN_PRODUCTS or not users:
        stdout.write(
            f"content: {len(products)} products and {len(users)} users; the content demo needs "
            f"{MIN_PRODUCTS} products and some users to write and read articles about"
        )
        return
    end = int(timezone.now().timestamp())
    start = end - DAYS * DAY
    product_ids, titles, categories = (list(column) for column in zip(*products, strict=True))
    articles = generate_articles(
        rng, product_ids, titles, categories, max(MIN_ARTICLES, round(320 * scale)), start, end
    )
    rows = [
        Item(
            external_id=articles.ids[n],
            kind="article",
            title=articles.titles[n],
            description=articles.texts[n],
            category=articles.topics[n],
            tags=[articles.formats[n], articles.languages[n]],
            attributes={
                "author": articles.authors[n],
                "published_at": datetime.fromtimestamp(articles.published[n], UTC).isoformat(),
                "products": articles.products[n],
                "format": articles.formats[n],
                "language": articles.languages[n],
            },
        )
        for n in range(len(articles.ids))
    ]
    Item.objects.bulk_create(rows, batch_size=1000)
    pks = dict(
        Item.objects.filter(external_id__in=articles.ids.tolist()).values_list("external_id", "pk")
    )
    reads = generate_reads(rng, articles, len(users), start, end)
    Interaction.objects.bulk_create(
        (
            Interaction(
                user_id=users[reads.users[n]],
                item_id=pks[articles.ids[reads.articles[n]]],
                event_type="read",
                value=float(reads.dwell[n]),
                timestamp=datetime.fromtimestamp(reads.times[n], UTC),
                event_id=f"content-demo-{n}",
                context={"source": "demo"},
            )
            for n in range(len(reads.users))
        ),
        batch_size=5000,
    )
    chinese = int((articles.languages == "zh").sum())
    stdout.write(
        f"content: {len(rows)} articles ({chinese} in Chinese) about {len(products)} products, "
        f"{len(reads.users)} reads by {len(np.unique(reads.users))} readers over {DAYS} days "
        f"(median dwell {np.median(reads.dwell):.0f} s)"
    )
    if ModelVersion.objects.filter(scenario="content").exists():
        return
    version = request_training("content", triggered_by="seed_demo")
    stdout.write(f"content: training queued as version {version.pk}")
