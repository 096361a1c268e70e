"""Set-based reads and writes for ingestion, with a PostgreSQL fast path.

On PostgreSQL a batch travels as ONE JSON parameter that the server unpacks
(``json_array_elements_text``, ``json_to_recordset``): the ORM's per-object preparation of a
1,000-row bulk_create, or the client-side quoting of thousands of parameters or array elements,
costs more than the database work itself. Other databases (SQLite in the embedded default) use
the ORM.
"""

import json
from collections.abc import Iterator
from datetime import datetime
from itertools import repeat

from django.db import connection

from catalog.models import Interaction

# Interaction columns written by insert_interactions, in order; a test checks this list covers
# every column of the model, so a new field cannot be silently left out.
INTERACTION_COLUMNS = (
    "user_id",
    "item_id",
    "event_type",
    "value",
    "timestamp",
    "context",
    "recommendation_id",
    "event_id",
    "created_at",
)
# SQL types of the same columns but created_at, as json_to_recordset reads them.
_PG_RECORD_TYPES = (
    "bigint",
    "bigint",
    "text",
    "float8",
    "timestamptz",
    "jsonb",
    "text",
    "text",
)


def _on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def pks_by_external_id(model, external_ids) -> dict[str, int]:
    """Map the given external ids that exist to their primary keys."""
    external_ids = list(external_ids)
    if not external_ids:
        return {}
    if not _on_postgresql():
        return dict(
            model.objects.filter(external_id__in=external_ids)
            .order_by()
            .values_list("external_id", "pk")
        )
    with connection.cursor() as cursor:
        cursor.execute(
            # A join, not "= ANY(array)": the planner cannot see the array's size and may scan
            # the whole table comparing every row with every id.
            f'SELECT t.external_id, t.id FROM "{model._meta.db_table}" AS t '
            "JOIN json_array_elements_text(%s::json) AS wanted(id) ON t.external_id = wanted.id",
            [json.dumps(external_ids)],
        )
        return dict(cursor.fetchall())


def create_missing(model, external_ids) -> None:
    """Create rows with these external ids and default values elsewhere, skipping existing ones.

    Ids are inserted in sorted order so that concurrent requests creating overlapping ids lock
    them in the same order and cannot deadlock.
    """
    external_ids = sorted(external_ids)
    if not external_ids:
        return
    if not _on_postgresql():
        model.objects.bulk_create(
            [model(external_id=external_id) for external_id in external_ids],
            batch_size=1000,
            ignore_conflicts=True,
        )
        return
    # Every other column gets the value the ORM would give a new object (defaults, auto_now).
    template = model(external_id="")
    fields = [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key and field.name != "external_id"
    ]
    defaults = [
        field.get_db_prep_save(field.pre_save(template, add=True), connection) for field in fields
    ]
    columns = ", ".join(f'"{field.column}"' for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{model._meta.db_table}" ("external_id", {columns}) '
            f"SELECT wanted.id, {placeholders} FROM json_array_elements_text(%s::json) "
            "AS wanted(id) ON CONFLICT (external_id) DO NOTHING",
            [*defaults, json.dumps(external_ids)],
        )


def _stored_event_ids(event_ids: list[str]) -> set[str]:
    if not event_ids:
        return set()
    return set(
        Interaction.objects.filter(event_id__in=event_ids)
        .order_by()
        .values_list("event_id", flat=True)
    )


def event_rows(user_pks, item_pks, types, values, times, contexts, event_ids) -> Iterator[tuple]:
    """:func:`insert_interactions` rows (no recommendation id) from parallel per-event columns,
    lazily, so a command can insert them chunk by chunk without a second copy of the file."""
    return zip(
        user_pks, item_pks, types, values, times, contexts, repeat(""), event_ids, strict=False
    )


def insert_interactions(rows: list[tuple], created_at: datetime) -> int:
    """Insert rows of (user pk, item pk, type, value, timestamp, context dict, recommendation id,
    event id) whose event_id is not stored yet; return how many were inserted.

    Event ids must be unique within ``rows``. On PostgreSQL the unique constraint does the
    de-duplication (ON CONFLICT DO NOTHING) and the row count is exact even under concurrent
    requests; elsewhere stored ids are looked up first.
    """
    if not rows:
        return 0
    # Ordered by event_id so that concurrent batches sharing ids take their unique-index locks
    # in the same order and cannot deadlock.
    rows = sorted(rows, key=lambda row: (row[7] is None, row[7] or ""))
    if not _on_postgresql():
        stored = _stored_event_ids([row[7] for row in rows if row[7] is not None])
        rows = [row for row in rows if row[7] not in stored]
        Interaction.objects.bulk_create(
            [
                Interaction(
                    user_id=user_pk,
                    item_id=item_pk,
                    event_type=event_type,
                    value=value,
                    timestamp=timestamp,
                    context=context,
                    recommendation_id=recommendation_id,
                    event_id=event_id,
                )
                for user_pk, item_pk, event_type, value, timestamp, context, recommendation_id, event_id in rows
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        return len(rows)
    names = INTERACTION_COLUMNS[:-1]
    records = json.dumps(
        [dict(zip(names, (*row[:4], row[4].isoformat(), *row[5:]), strict=True)) for row in rows]
    )
    record_type = ", ".join(
        f'"{name}" {sql_type}' for name, sql_type in zip(names, _PG_RECORD_TYPES, strict=True)
    )
    columns = ", ".join(f'"{name}"' for name in INTERACTION_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{Interaction._meta.db_table}" ({columns}) '
            f"SELECT r.*, %s FROM json_to_recordset(%s::json) AS r({record_type}) "
            "ON CONFLICT DO NOTHING",
            [created_at, records],
        )
        return cursor.rowcount
