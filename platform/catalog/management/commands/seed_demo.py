"""``manage.py seed_demo``: fill the database with the deterministic demo store.

The catalog part comes from :func:`ml.datasets.demo.generate_demo_store`: users with attributes,
products in a category tree, articles, and browsing sessions (view -> add_to_cart -> purchase)
driven by hidden tastes, popularity and drift. The same ``--seed`` and sizes give the same rows;
only the dates move, so the window always ends today (recency-based features see fresh data).
Re-running is harmless: users and items are upserted by id, and events carry ids
``demo-<seed>-<sizes>-<n>``, so a rerun (even on a later day) adds no events twice.

Scenario apps add their own demo data through this command. After the catalog part, every
installed app whose package has a ``demo`` module with a ``seed`` function is called, in
INSTALLED_APPS order::

    # scenarios/coupons/demo.py
    def seed(*, rng, stdout, scale):
        '''Create offers for the demo store; called by manage.py seed_demo.'''

- ``rng``: a ``numpy.random.Generator`` seeded from ``--seed`` and the app label, so each app's
  data is deterministic and independent of the others;
- ``stdout``: the command's output stream (write one summary line);
- ``scale``: ``--users`` / 800, to size the app's data with the store (1.0 at the default).

Hooks run after the catalog rows are committed and may read them (users, items, interactions).
``--if-empty`` makes the whole command a no-op when users, items or events already exist, which
is what ``make run`` uses.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice

import numpy as np
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from catalog.bulk import event_rows, insert_interactions
from catalog.models import Interaction, Item, User
from catalog.signals import events_ingested
from ml.datasets.demo import DAY, DemoStore, generate_demo_store

DEFAULT_USERS = 800
CHUNK_SIZE = 5000
USER_FIELDS = ["age_band", "gender", "location", "segments", "attributes", "updated_at"]
ITEM_FIELDS = [
    "kind",
    "title",
    "description",
    "category",
    "tags",
    "price",
    "in_stock",
    "is_hidden",
    "available_from",
    "available_until",
    "attributes",
    "updated_at",
]


class Command(BaseCommand):
    help = "Load the deterministic demo store (and every scenario app's demo data)."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="Shoppers.")
        parser.add_argument("--items", type=int, default=400, help="Products.")
        parser.add_argument("--articles", type=int, default=50, help="Editorial articles.")
        parser.add_argument("--days", type=int, default=45, help="Days of browsing history.")
        parser.add_argument("--seed", type=int, default=0, help="Same seed, same store.")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already holds users, items or events.",
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, users, items, articles, days, seed, if_empty, no_progress, **options):
        if if_empty and (
            User.objects.exists() or Item.objects.exists() or Interaction.objects.exists()
        ):
            self.stdout.write("The database already holds data; --if-empty: nothing to do.")
            return
        end = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        try:
            store = generate_demo_store(
                n_users=users,
                n_products=items,
                n_articles=articles,
                days=days,
                seed=seed,
                start=int(end.timestamp()) - days * DAY,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        counts = write_store(store, seed=seed, progress=not no_progress)
        self.stdout.write(
            f"Demo store (seed {seed}): {counts['users']} users, {counts['items']} items, "
            f"{counts['events']} events ({counts['duplicates']} already present)."
        )
        run_app_hooks(seed=seed, stdout=self.stdout, scale=users / DEFAULT_USERS)


def write_store(store: DemoStore, seed: int, progress: bool) -> dict[str, int]:
    """Upsert users and items, insert the events not stored yet; return counts."""
    events = store.events
    bar = tqdm(
        total=len(store.users) + len(store.items) + len(events),
        disable=not progress,
        unit="row",
        desc="seed_demo",
    )
    with bar, transaction.atomic():
        user_pks = _upsert(User, _user_rows(store), USER_FIELDS, bar)
        item_pks = _upsert(Item, _item_rows(store), ITEM_FIELDS, bar)
        # Same seed and sizes regenerate the same events (only shifted in time): same ids.
        size = f"{len(store.users)}u{len(store.items)}i{(store.end - store.start) // DAY}d"
        event_ids = [f"demo-{seed}-{size}-{n}" for n in range(len(events))]
        users_of = [user_pks[key] for key in events.user_ids.tolist()]
        items_of = [item_pks[key] for key in events.item_ids.tolist()]
        types = events.event_types.tolist()
        values = events.values.tolist()
        sessions = events.extra["session_ids"].tolist()
        times = [datetime.fromtimestamp(stamp, UTC) for stamp in events.timestamps.tolist()]
        now = timezone.now()
        inserted = 0
        contexts = ({"session": f"s{session}", "source": "demo"} for session in sessions)
        pending = event_rows(users_of, items_of, types, values, times, contexts, event_ids)
        for start in range(0, len(events), CHUNK_SIZE):
            stop = min(start + CHUNK_SIZE, len(events))
            inserted += insert_interactions(list(islice(pending, stop - start)), created_at=now)
            bar.update(stop - start)
        if inserted:
            # After commit, so lists cached for these users are recomputed from the new events.
            user_ids, item_ids = sorted(user_pks), sorted(item_pks)
            transaction.on_commit(
                lambda: events_ingested.send(
                    sender=Interaction, user_ids=user_ids, item_ids=item_ids, count=inserted
                )
            )
    return {
        "users": len(user_pks),
        "items": len(item_pks),
        "events": inserted,
        "duplicates": len(events) - inserted,
    }


def _user_rows(store: DemoStore) -> list[User]:
    users = store.users
    return [
        User(
            external_id=users.ids[i],
            age_band=users.age_bands[i],
            gender=users.genders[i],
            location=users.locations[i],
            segments=users.segments[i],
            attributes={
                "signed_up": datetime.fromtimestamp(int(users.signup_timestamps[i]), UTC)
                .date()
                .isoformat()
            },
        )
        for i in range(len(users))
    ]


def _item_rows(store: DemoStore) -> list[Item]:
    items = store.items
    return [
        Item(
            external_id=items.ids[i],
            kind=items.kinds[i],
            title=items.titles[i],
            description=items.descriptions[i],
            category=items.categories[i],
            tags=items.tags[i],
            price=None if math.isnan(items.prices[i]) else Decimal(f"{items.prices[i]:.2f}"),
            in_stock=bool(items.in_stock[i]),
            available_from=_moment(items.available_from[i]),
            available_until=_moment(items.available_until[i]),
            attributes={},
        )
        for i in range(len(items))
    ]


def _moment(epoch_seconds) -> datetime | None:
    return None if epoch_seconds < 0 else datetime.fromtimestamp(int(epoch_seconds), UTC)


def _upsert(model, rows, update_fields, bar) -> dict[str, int]:
    pks: dict[str, int] = {}
    for start in range(0, len(rows), CHUNK_SIZE):
        chunk = rows[start : start + CHUNK_SIZE]
        model.objects.bulk_create(
            chunk,
            update_conflicts=True,
            unique_fields=["external_id"],
            update_fields=update_fields,
        )
        ids = [row.external_id for row in chunk]
        pks.update(model.objects.filter(external_id__in=ids).values_list("external_id", "pk"))
        bar.update(len(chunk))
    return pks


def run_app_hooks(seed: int, stdout, scale: float) -> list[str]:
    """Call ``<app>.demo.seed(rng=..., stdout=..., scale=...)`` for every installed app that has
    one (except the catalog, whose part is above); return the labels called."""
    called = []
    for config in apps.get_app_configs():
        if config.label == "catalog" or importlib.util.find_spec(f"{config.name}.demo") is None:
            continue
        module = importlib.import_module(f"{config.name}.demo")
        seed_app = getattr(module, "seed", None)
        if seed_app is None:
            continue
        # crc32, not hash(): stable across processes, so each app's stream is reproducible.
        rng = np.random.default_rng([seed, zlib.crc32(config.label.encode())])
        with transaction.atomic():
            seed_app(rng=rng, stdout=stdout, scale=scale)
        called.append(config.label)
    return called
