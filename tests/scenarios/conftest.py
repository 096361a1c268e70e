"""Fixtures for scenario tests: a fresh engine state per test and a small planted store."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone


@pytest.fixture(autouse=True)
def fresh_engine(settings, tmp_path):
    """Artifacts in a temp folder; no memo, cached list or catalog snapshot leaks between tests."""
    from engine.serving import routes
    from scenarios.products import scenario as products
    from scenarios.products.catalog_view import catalog

    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    cache.clear()
    routes.forget()
    catalog.forget()
    products._memo.clear()
    yield
    routes.forget()
    catalog.forget()
    products._memo.clear()


PHONES = [f"phone-{i}" for i in range(1, 7)]
BOOKS = [f"book-{i}" for i in range(1, 7)]


@pytest.fixture
def store(db):
    """Two tastes: users p1..p6 (age 18-24) buy phones, b1..b6 (age 55+) buy books.

    Every user interacts with four items of their category in a rotating window, so item-item
    co-occurrence is strong inside a category and absent across them.
    """
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
                item = items[catalog_ids[(u + offset) % 6]]
                events.append(
                    Interaction(
                        user=user,
                        item=item,
                        event_type="purchase" if offset == 0 else "view",
                        timestamp=now - timedelta(hours=10 - offset, minutes=u),
                    )
                )
    Interaction.objects.bulk_create(events)
    return items


@pytest.fixture
def train_products(django_capture_on_commit_callbacks):
    """Train the products scenario through the engine (eager Celery), running on-commit hooks."""
    from engine.models import ModelVersion
    from engine.versions import request_training

    def train(**settings_overrides) -> ModelVersion:
        from engine.models import ScenarioConfig

        if settings_overrides:
            config = ScenarioConfig.for_slug("products")
            config.settings = {**config.settings, **settings_overrides}
            config.save()
        with django_capture_on_commit_callbacks(execute=True):
            version = request_training("products", triggered_by="test")
        version.refresh_from_db()
        return version

    return train
