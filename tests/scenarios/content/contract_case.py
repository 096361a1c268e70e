"""How the engine's contract tests drive content: a guide about each planted phone and book,
read by the shoppers of that taste over three weeks (phone people read phone guides, book
people book reviews); p1 then asks for a feed and reads its first article."""

import itertools
from datetime import timedelta

from django.utils import timezone

from tests.engine.contract_cases import Case
from tests.engine.planted import BOOKS, PHONES

_event_ids = itertools.count()

TEXTS = {
    "phone": "Battery life, screen brightness and camera quality decide which phone to buy. "
    "We tested charging speed and the case.",
    "book": "A novel of memory and family: the author's chapters move between two cities. "
    "Our review of the story and its characters.",
}


def seed_articles() -> None:
    """Six articles per taste (each linked to one product), four reads per planted shopper."""
    from catalog.models import Interaction, Item, User

    now = timezone.now()
    articles = {}
    for taste, products, category in (
        ("phone", PHONES, "electronics/phones"),
        ("book", BOOKS, "books/fiction"),
    ):
        for n, product in enumerate(products):
            articles[(taste, n)] = Item.objects.create(
                external_id=f"{taste}-guide-{n + 1}",
                kind="article",
                title=f"{taste.title()} guide {n + 1}",
                description=f"{TEXTS[taste]} Part {n + 1}.",
                category=category,
                attributes={
                    "products": [product],
                    "format": "guide" if taste == "phone" else "review",
                    "published_at": (now - timedelta(days=30 - n)).isoformat(),
                },
            )
    events = []
    for group, taste in (("p", "phone"), ("b", "book")):
        for u in range(6):
            user = User.objects.get(external_id=f"{group}{u + 1}")
            for offset, days_ago in enumerate((20, 14, 8, 2)):
                events.append(
                    Interaction(
                        user=user,
                        item=articles[(taste, (u + offset) % 6)],
                        event_type="read",
                        value=40.0 + 10 * offset,
                        timestamp=now - timedelta(days=days_ago, hours=u),
                    )
                )
    Interaction.objects.bulk_create(events)


def read_first_article(client, body, user_id):
    event = {
        "event_id": f"contract-content-{next(_event_ids)}",
        "user_id": user_id,
        "item_id": body["items"][0]["item_id"],
        "type": "read",
        "value": 55.0,
        "context": {"recommendation_id": body["recommendation_id"]},
    }
    return client.post("/api/v1/events", {"events": [event]}, format="json")


CASE = Case(
    query={"user_id": "p1", "n": 3},
    bad=[
        {"n": 3},
        {"user_id": "p1", "n": 0},
        {"user_id": "p1", "n": "many"},
        {"user_id": "p1", "n": 101},
    ],
    feedback=read_first_article,
    seed=seed_articles,
    settings={"text_encoder": "tfidf_svd", "hyperparameters": {"dim": 8, "min_count": 1}},
)
