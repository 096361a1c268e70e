"""A small planted store and engine-state reset shared by the engine and scenario tests.

Two tastes: users p1..p6 (age band 18-24) buy phones, b1..b6 (55+) buy books. Every user
interacts with four items of their category in a rotating window, so co-occurrence is strong
inside a category and absent across them.
"""

from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone

PHONES = [f"phone-{i}" for i in range(1, 7)]
BOOKS = [f"book-{i}" for i in range(1, 7)]


def reset_engine_state() -> None:
    """No memo, cached list or catalog snapshot may leak from one test into the next."""
    from engine.impressions import impressions
    from engine.pipeline import answers, states
    from engine.routing import routes
    from engine.snapshot import snapshots

    cache.clear()
    routes.forget()
    impressions.forget()
    snapshots.forget()
    states.clear()
    answers.clear()


def plant_store() -> dict:
    from catalog.models import Interaction, Item, User

    now = timezone.now()
    items = {}
    for index, external_id in enumerate(PHONES):
        items[external_id] = Item.objects.create(
            external_id=external_id,
            title=f"Phone model {index + 1}",
            category="electronics/phones",
            price=100 + 50 * index,
        )
    for index, external_id in enumerate(BOOKS):
        items[external_id] = Item.objects.create(
            external_id=external_id,
            title=f"Novel volume {index + 1}",
            category="books/fiction",
            price=10 + index,
        )
    events = []
    for group, catalog_ids, age in (("p", PHONES, "18-24"), ("b", BOOKS, "55+")):
        for u in range(6):
            user = User.objects.create(external_id=f"{group}{u + 1}", age_band=age)
            for offset in range(4):
                events.append(
                    Interaction(
                        user=user,
                        item=items[catalog_ids[(u + offset) % 6]],
                        event_type="purchase" if offset == 0 else "view",
                        timestamp=now - timedelta(hours=10 - offset, minutes=u),
                    )
                )
    Interaction.objects.bulk_create(events)
    return items


def configure(slug: str = "products", **overrides) -> None:
    """Save ``overrides`` into the scenario's settings; a test naming a model trains that model
    (model search off) unless it also sets ``model_search``."""
    from engine.models import ScenarioConfig

    if "model" in overrides:
        overrides.setdefault("model_search", False)
    config = ScenarioConfig.for_slug(slug)
    config.settings = {**config.settings, **overrides}
    config.save()
