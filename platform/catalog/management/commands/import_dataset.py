"""``manage.py import_dataset FORMAT PATH``: load a public dataset or a store export into the catalog.

Formats:

- ``movielens``: a MovieLens folder in the 100K (``u.data``, ``u.item``, ``u.user``) or the 1M
  format (``ratings.dat``, ``movies.dat``, ``users.dat``); ratings become ``rating`` events, movies
  items of kind ``product`` (what the store sells, so the products scenario trains on them)
  filed under ``movies/<first genre>``, and demographics user attributes.
- ``rees46``: the REES46 e-commerce events CSV (a file, or a folder holding the shared sample);
  ``view`` / ``cart`` / ``purchase`` / ``remove_from_cart`` become ``view`` / ``add_to_cart`` /
  ``purchase`` / ``remove_from_cart`` events, products items with their category path, brand and
  last price, and the session goes into each event's context.
- ``csv``: ``user_id,item_id[,value][,timestamp][,event_type]`` with a header; rows without an
  event type get ``--event-type``, rows without a timestamp the import time.

Parsing is done by the loaders in ``ml.datasets``; events are written by
``catalog.bulk.insert_interactions``, the ingestion API's set-based writer. A truncated last line (a file cut mid-row) is
reported and skipped, never fatal. Users and items are upserted by external id; every event gets
an id derived from its content, so importing the same file again adds nothing and counts the rows
as duplicates. Writes go in chunks (``--chunk-size``) with a progress bar on stderr.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from catalog.bulk import event_rows, insert_interactions
from catalog.models import EventType, Interaction, Item, User
from catalog.signals import events_ingested
from ml.data import Interactions
from ml.datasets.interactions_csv import load_interactions_csv
from ml.datasets.movielens import load_movielens_1m, load_movielens_100k
from ml.datasets.rees46 import SAMPLE_FILE, load_rees46

FORMATS = ("movielens", "rees46", "csv")
REES46_EVENT_TYPES = {
    "view": "view",
    "cart": "add_to_cart",
    "purchase": "purchase",
    "remove_from_cart": "remove_from_cart",
}
# Types an import may add when missing: name -> (weight, is_positive).
IMPORTER_EVENT_TYPES = {"remove_from_cart": (1.0, False)}
TAIL_BYTES = 1 << 20  # enough to hold the last two lines of any of the formats
USER_FIELDS = ["age_band", "gender", "location", "attributes", "updated_at"]
ITEM_FIELDS = ["kind", "title", "category", "tags", "price", "attributes", "updated_at"]


@dataclass
class Dataset:
    """What a format reader hands the writer: side tables keyed by external id, and events."""

    events: Interactions  # event_types set to catalog names
    users: dict[str, dict] = field(default_factory=dict)
    items: dict[str, dict] = field(default_factory=dict)
    contexts: list[dict] | None = None
    stamped_now: bool = False  # timestamps absent from the file: events get the import time
    skipped_count: int = 0
    skipped_notes: list[str] = field(default_factory=list)


@dataclass
class ImportSummary:
    users: int
    items: int
    events: int
    duplicates: int
    skipped_lines: int

    def line(self) -> str:
        return (
            f"Imported {self.events} events ({self.duplicates} duplicates skipped) for "
            f"{self.users} users and {self.items} items; {self.skipped_lines} malformed line(s) "
            "skipped."
        )


class Command(BaseCommand):
    help = "Import MovieLens (100K/1M), REES46 events or a generic interactions CSV."

    def add_arguments(self, parser):
        parser.add_argument("format", choices=FORMATS)
        parser.add_argument("path", type=Path, help="Dataset folder or file.")
        parser.add_argument(
            "--event-type",
            default="view",
            help="csv: event type of rows without an event_type column (default: view).",
        )
        parser.add_argument("--chunk-size", type=int, default=5000, help="Rows per bulk insert.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, format, path, event_type, chunk_size, no_progress, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        try:
            dataset = READERS[format](path, event_type)
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(f"cannot read {path} as {format}: {exc}") from exc
        for note in dataset.skipped_notes:
            self.stderr.write(f"Skipped malformed input: {note}")
        summary = write_dataset(
            dataset, source=format, chunk_size=chunk_size, progress=not no_progress
        )
        if summary.events:
            refresh_planner_statistics()
        self.stdout.write(summary.line())


def refresh_planner_statistics() -> None:
    """ANALYZE the catalog tables after a bulk import, so the serving queries (a user's newest
    events) are planned on real row counts: SQLite never gathers statistics on its own, and
    PostgreSQL's autovacuum may get to them only later."""
    tables = [model._meta.db_table for model in (User, Item, Interaction)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(t) for t in tables))
        else:
            for table in tables:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def write_dataset(
    dataset: Dataset, source: str, chunk_size: int = 5000, progress: bool = False
) -> ImportSummary:
    """Upsert users and items, then insert the events that are not stored yet."""
    events = dataset.events
    known_types = set(EventType.objects.values_list("name", flat=True))
    unknown = sorted(set(events.event_types.tolist()) - known_types - set(IMPORTER_EVENT_TYPES))
    if unknown:
        raise CommandError(
            f"unknown event type(s) {unknown}; known: {sorted(known_types)}. Add them in the "
            "admin (Event types) or pass --event-type."
        )
    for name in set(events.event_types.tolist()) - known_types:
        weight, is_positive = IMPORTER_EVENT_TYPES[name]
        EventType.objects.get_or_create(
            name=name, defaults={"weight": weight, "is_positive": is_positive}
        )

    user_ids = sorted(set(events.user_ids.tolist()) | dataset.users.keys())
    item_ids = sorted(set(events.item_ids.tolist()) | dataset.items.keys())
    bar = tqdm(
        total=len(user_ids) + len(item_ids) + len(events),
        disable=not progress,
        unit="row",
        desc=f"import {source}",
    )
    with bar:
        user_pks = _upsert(User, user_ids, dataset.users, USER_FIELDS, chunk_size, bar)
        item_pks = _upsert(Item, item_ids, dataset.items, ITEM_FIELDS, chunk_size, bar)
        event_ids = _event_ids(source, events)
        users_of = [user_pks[key] for key in events.user_ids.tolist()]
        items_of = [item_pks[key] for key in events.item_ids.tolist()]
        types = events.event_types.tolist()
        values = [_event_value(source, value) for value in events.values.tolist()]
        now = timezone.now()
        times = [
            now if dataset.stamped_now else datetime.fromtimestamp(stamp, UTC)
            for stamp in events.timestamps.tolist()
        ]
        contexts = dataset.contexts or [{} for _ in range(len(events))]
        imported = duplicates = 0
        pending = event_rows(users_of, items_of, types, values, times, contexts, event_ids)
        for start in range(0, len(events), chunk_size):
            stop = min(start + chunk_size, len(events))
            rows = list(islice(pending, stop - start))
            # Event ids are unique within the file, so stored ones are the only conflicts.
            with transaction.atomic():
                inserted = insert_interactions(rows, created_at=now)
            imported += inserted
            duplicates += len(rows) - inserted
            bar.update(stop - start)
    if imported:
        # Lists cached for these users predate the import (the API sends this per batch).
        transaction.on_commit(
            lambda: events_ingested.send(
                sender=Interaction, user_ids=user_ids, item_ids=item_ids, count=imported
            )
        )
    return ImportSummary(
        users=len(user_ids),
        items=len(item_ids),
        events=imported,
        duplicates=duplicates,
        skipped_lines=dataset.skipped_count,
    )


def _upsert(model, external_ids, fields_by_id, update_fields, chunk_size, bar) -> dict[str, int]:
    """Create or update rows by external id; return external id -> primary key."""
    pks: dict[str, int] = {}
    for start in range(0, len(external_ids), chunk_size):
        chunk = external_ids[start : start + chunk_size]
        with_fields = [key for key in chunk if key in fields_by_id]
        if with_fields:
            model.objects.bulk_create(
                [model(external_id=key, **fields_by_id[key]) for key in with_fields],
                update_conflicts=True,
                unique_fields=["external_id"],
                update_fields=update_fields,
            )
        bare = [key for key in chunk if key not in fields_by_id]
        if bare:
            model.objects.bulk_create(
                [model(external_id=key) for key in bare], ignore_conflicts=True
            )
        pks.update(model.objects.filter(external_id__in=chunk).values_list("external_id", "pk"))
        bar.update(len(chunk))
    return pks


def _event_ids(source: str, events: Interactions) -> list[str]:
    """Content-derived ids: the k-th identical row of a file always gets the same id."""
    seen: Counter = Counter()
    ids = []
    for row in zip(
        events.user_ids.tolist(),
        events.item_ids.tolist(),
        events.event_types.tolist(),
        events.timestamps.tolist(),
        events.values.tolist(),
        strict=True,
    ):
        occurrence = seen[row]
        seen[row] += 1
        digest = hashlib.sha1(repr((row, occurrence)).encode(), usedforsecurity=False)
        ids.append(f"import:{source}:{digest.hexdigest()[:32]}")
    return ids


def _event_value(source: str, value: float) -> float | None:
    # REES46 has no quantity; the loader's values are its own training weights, not facts.
    return None if source == "rees46" else float(value)


def trim_truncated_last_line(path: Path, separator: str) -> tuple[str | None, int]:
    """If the file ends mid-row, return (that line, bytes before it); else (None, file size).

    A row is cut when the file lacks a final newline and the last line has fewer fields than
    the line before it. Only the file's tail is read, so large files cost nothing here.
    """
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        tail_start = max(0, size - TAIL_BYTES)
        handle.seek(tail_start)
        tail = handle.read()
    if not tail or tail.endswith(b"\n"):
        return None, size
    last_newline = tail.rfind(b"\n")
    if last_newline < 0:
        return None, size  # a one-line file, or a last line longer than TAIL_BYTES
    last = tail[last_newline + 1 :].decode("utf-8", errors="replace")
    previous = tail[:last_newline].rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    if last.count(separator) < previous.count(separator):
        return last, tail_start + last_newline + 1
    return None, size


def _with_complete_rows(path: Path, separator: str, workdir: Path) -> tuple[Path, list[str]]:
    """``path``, or a copy of it in ``workdir`` without a truncated last line."""
    truncated, size = trim_truncated_last_line(path, separator)
    if truncated is None:
        return path, []
    copy = workdir / path.name
    with path.open("rb") as source, copy.open("wb") as target:
        remaining = size
        while remaining:
            chunk = source.read(min(remaining, 1 << 20))
            target.write(chunk)
            remaining -= len(chunk)
    return copy, [f"{path}: {truncated!r}"]


def read_movielens(path: Path, default_event_type: str) -> Dataset:
    if (path / "u.data").is_file():
        ratings, separator, loader = "u.data", "\t", load_movielens_100k
    elif (path / "ratings.dat").is_file():
        ratings, separator, loader = "ratings.dat", "::", load_movielens_1m
    else:
        raise FileNotFoundError(f"no u.data (100K) or ratings.dat (1M) in {path}")
    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        _, skipped = _with_complete_rows(path / ratings, separator, workdir)
        if skipped:
            # The loader reads a folder: give it one with the trimmed ratings and the rest linked.
            for other in path.iterdir():
                if other.name != ratings:
                    (workdir / other.name).symlink_to(other.resolve())
            movielens = loader(workdir)
        else:
            movielens = loader(path)
    events = movielens.interactions
    events.event_types = np.full(len(events), "rating")
    users, items = {}, {}
    if movielens.users is not None:
        table = movielens.users
        for user_id, age, gender, occupation, zip_code in zip(
            table.ids, table.ages, table.genders, table.occupations, table.zip_codes, strict=True
        ):
            users[str(user_id)] = {
                "age_band": movielens_age_band(int(age)),
                "gender": {"M": "male", "F": "female"}.get(str(gender), str(gender)),
                "location": str(zip_code),
                "attributes": {"occupation": str(occupation)},
            }
    if movielens.items is not None:
        table = movielens.items
        for row, item_id in enumerate(table.ids.tolist()):
            genres = [
                name
                for name, flag in zip(table.genre_names, table.genres[row], strict=True)
                if flag
            ]
            first = genres[0].lower().replace(" ", "-") if genres else "unknown"
            items[item_id] = {
                "kind": "product",
                "title": str(table.titles[row]),
                "category": f"movies/{first}",
                "tags": genres,
                "price": None,
                "attributes": {"release_date": str(table.release_dates[row])},
            }
    return Dataset(
        events=events,
        users=users,
        items=items,
        skipped_count=len(skipped),
        skipped_notes=skipped,
    )


def movielens_age_band(age: int) -> str:
    """MovieLens 1M stores ages as band starts (1, 18, 25, ...); 100K as years. Same bands."""
    for upper, band in ((18, "under-18"), (25, "18-24"), (35, "25-34"), (45, "35-44")):
        if age < upper:
            return band
    return "45-54" if age < 55 else "55+"


def read_rees46(path: Path, default_event_type: str) -> Dataset:
    file = path / SAMPLE_FILE if path.is_dir() else path
    rees46 = load_rees46(file)
    events = rees46.interactions
    events.event_types = np.asarray(
        [REES46_EVENT_TYPES.get(kind, kind) for kind in events.event_types.tolist()]
    )
    products = rees46.products
    items = {}
    for row, item_id in enumerate(products.ids.tolist()):
        code, brand = str(products.category_codes[row]), str(products.brands[row])
        leaf = code.rsplit(".", 1)[-1].replace("_", " ") if code else "product"
        price = float(products.prices[row])
        items[item_id] = {
            "kind": "product",
            "title": f"{brand.title()} {leaf}".strip() if brand else leaf.capitalize(),
            "category": code.replace(".", "/"),
            "tags": [brand] if brand else [],
            "price": Decimal(f"{price:.2f}") if math.isfinite(price) else None,
            "attributes": {"category_id": str(products.category_ids[row]), "brand": brand},
        }
    contexts = [
        {"session": session, "price": round(float(price), 2)}
        for session, price in zip(
            events.extra["session"].tolist(), events.extra["price"].tolist(), strict=True
        )
    ]
    notes = [f"{file}: {rees46.skipped_rows} row(s) with missing or bad fields"]
    return Dataset(
        events=events,
        items=items,
        contexts=contexts,
        skipped_count=rees46.skipped_rows,
        skipped_notes=notes if rees46.skipped_rows else [],
    )


def read_csv(path: Path, default_event_type: str) -> Dataset:
    with tempfile.TemporaryDirectory() as workdir:
        complete, skipped = _with_complete_rows(path, ",", Path(workdir))
        events = load_interactions_csv(complete)
        with complete.open(encoding="utf-8") as handle:
            header = handle.readline()
    if events.event_types is None:
        events.event_types = np.full(len(events), default_event_type)
    has_timestamps = "timestamp" in [name.strip() for name in header.split(",")]
    return Dataset(
        events=events,
        stamped_now=not has_timestamps,
        skipped_count=len(skipped),
        skipped_notes=skipped,
    )


READERS = {"movielens": read_movielens, "rees46": read_rees46, "csv": read_csv}
