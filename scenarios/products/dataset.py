"""The products training set, built from the database: a users x items weight matrix and segments.

Weights come from the scenario's ``event_weights`` (falling back to each EventType's weight);
events of negative types are left out of the positive matrix. Segments are "field:value" keys
from user attributes (age band, gender, location, listed segments) for cold-start popularity.

The events are streamed: binary ``COPY ... TO STDOUT`` on PostgreSQL (a chunked cursor on
SQLite) parsed chunk by chunk into column arrays of 18 bytes an event (int32 user and item keys,
an int16 event type code, int64 microseconds), never into Python objects per event; the two
matrices are built from those arrays with one sort of the (user, item) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.db import connection
from django.db.models import Max

from catalog.models import EventType, Interaction, Item, User
from ml.data import IdMap

SEGMENT_FIELDS = ("age_band", "gender", "location")
CHUNK_ROWS = 100_000  # events parsed per step: 1.8 MB of arrays, a few MB of COPY data
DENSE_SPAN = 64_000_000  # widest key span indexed by a lookup table (5 bytes a key)
PG_EPOCH_MICROS = 946_684_800_000_000  # PostgreSQL's binary timestamps count from 2000-01-01
# One binary COPY row of (int8 user, int8 item, int2 code, timestamptz): a field count, then a
# length before each field (big-endian). Every field is NOT NULL, so every row has this size.
COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("user_len", ">i4"),
        ("user", ">i8"),
        ("item_len", ">i4"),
        ("item", ">i8"),
        ("code_len", ">i4"),
        ("code", ">i2"),
        ("time_len", ">i4"),
        ("time", ">i8"),
    ]
)
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def event_weights(settings: dict[str, Any]) -> dict[str, float]:
    """Weight per positive event type; the scenario's overrides win over the catalog's."""
    weights = {e.name: e.weight for e in EventType.objects.all() if e.is_positive}
    negative = set(EventType.objects.filter(is_positive=False).values_list("name", flat=True))
    for name, weight in (settings.get("event_weights") or {}).items():
        weights[name] = float(weight)
        negative.discard(name)
    return {name: w for name, w in weights.items() if name not in negative and w > 0}


def user_segments(age_band: str, gender: str, location: str, segments) -> list[str]:
    keys = [
        f"{field}:{value}"
        for field, value in zip(SEGMENT_FIELDS, (age_band, gender, location), strict=True)
        if value
    ]
    return keys + [f"segment:{s}" for s in segments or [] if s]


@dataclass
class ProductsDataset:
    matrix: sp.csr_matrix  # users x items, summed event weights
    times: sp.csr_matrix  # same pairs: minutes from the first event to the pair's latest, + 1
    users: IdMap  # external user ids
    items: IdMap  # external item ids
    user_pks: np.ndarray
    item_pks: np.ndarray
    segment_names: np.ndarray
    memberships: np.ndarray  # users x segments, 0/1
    n_events: int
    time_from: float | None
    time_to: float | None

    def snapshot(self) -> dict[str, Any]:
        return {
            "users": len(self.users),
            "items": len(self.items),
            "events": self.n_events,
            "time_from": self.time_from,
            "time_to": self.time_to,
        }


def build_dataset(settings: dict[str, Any], item_kinds: tuple[str, ...]) -> ProductsDataset:
    """The weighted user x item matrix of events on items of ``item_kinds``."""
    weights = event_weights(settings)
    names = sorted(weights)
    events = read_events(names, item_kinds) if names and item_kinds else None
    if events is None or not len(events.codes):
        raise ValueError(
            f"no interactions of the weighted event types {names} on items of kind "
            f"{', '.join(item_kinds)}; import or post events first"
        )
    unique_users, user_index = _dense_index(events.user_pks)
    unique_items, item_index = _dense_index(events.item_pks)
    weight_of = np.array([weights[name] for name in names], dtype=np.float32)[events.codes]
    first_us, last_us = int(events.micros.min()), int(events.micros.max())
    n_events = len(events.codes)
    matrix, times = _pair_matrices(
        user_index,
        item_index,
        weight_of,
        events.micros,
        first_us,
        (len(unique_users), len(unique_items)),
    )
    del events, user_index, item_index, weight_of

    user_rows = _rows_by_pk(
        User, unique_users, ("external_id", "age_band", "gender", "location", "segments")
    )
    item_external = {
        pk: row[0] for pk, row in _rows_by_pk(Item, unique_items, ("external_id",)).items()
    }
    per_user = [user_segments(*user_rows[pk][1:]) for pk in unique_users.tolist()]
    segment_names = sorted({key for keys in per_user for key in keys})
    column = {name: i for i, name in enumerate(segment_names)}
    memberships = np.zeros((len(unique_users), len(segment_names)), np.float32)
    for row, keys in enumerate(per_user):
        memberships[row, [column[k] for k in keys]] = 1.0
    return ProductsDataset(
        matrix=matrix,
        times=times,
        users=IdMap([user_rows[pk][0] for pk in unique_users.tolist()]),
        items=IdMap([item_external[pk] for pk in unique_items.tolist()]),
        user_pks=unique_users,
        item_pks=unique_items,
        segment_names=np.array(segment_names, dtype=str),
        memberships=memberships,
        n_events=n_events,
        time_from=first_us / 1e6,
        time_to=last_us / 1e6,
    )


@dataclass
class Events:
    """The events read, one array per column."""

    user_pks: np.ndarray  # int32 where every primary key fits, else int64
    item_pks: np.ndarray
    codes: np.ndarray  # int16: the event type's position in the sorted weighted names
    micros: np.ndarray  # int64: the timestamp in microseconds since the Unix epoch


def read_events(names: list[str], item_kinds: tuple[str, ...]) -> Events:
    """Events of the types ``names`` on items of ``item_kinds``, streamed chunk by chunk into
    column arrays (binary COPY on PostgreSQL, a chunked cursor elsewhere)."""
    postgres = connection.vendor == "postgresql"
    quote = connection.ops.quote_name
    meta = Interaction._meta

    def column(name: str) -> str:
        return f"i.{quote(meta.get_field(name).column)}"

    stamp = column("timestamp") if postgres else f"CAST({column('timestamp')} AS TEXT)"
    codes = " ".join(f"WHEN %s THEN {k}" for k in range(len(names)))
    sql = (
        f"SELECT {column('user')}, {column('item')}, "
        f"CAST(CASE {column('event_type')} {codes} END AS SMALLINT), {stamp} "
        f"FROM {quote(meta.db_table)} i JOIN {quote(Item._meta.db_table)} it "
        f"ON it.{quote(Item._meta.pk.column)} = {column('item')} "
        f"WHERE {column('event_type')} IN ({', '.join(['%s'] * len(names))}) "
        f"AND it.{quote(Item._meta.get_field('kind').column)} "
        f"IN ({', '.join(['%s'] * len(item_kinds))})"
    )
    params = [*names, *names, *item_kinds]
    largest = max(
        User.objects.aggregate(top=Max("pk"))["top"] or 0,
        Item.objects.aggregate(top=Max("pk"))["top"] or 0,
    )
    key_type = np.int32 if largest < 2**31 else np.int64
    chunks = (_copy_chunks if postgres else _cursor_chunks)(sql, params)
    columns: tuple[list, ...] = ([], [], [], [])
    for chunk in chunks:
        for parts, values, dtype in zip(
            columns, chunk, (key_type, key_type, np.int16, np.int64), strict=True
        ):
            parts.append(values.astype(dtype))
    return Events(*(_concatenate(parts) for parts in columns))


def _concatenate(parts: list[np.ndarray]) -> np.ndarray:
    """One array of the chunks, freeing them as it goes (peak: the chunks plus one column)."""
    whole = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    parts.clear()
    return whole


def _copy_chunks(sql: str, params: list):
    """``(users, items, codes, micros)`` arrays from ``COPY (sql) TO STDOUT (FORMAT BINARY)``,
    about ``CHUNK_ROWS`` rows at a time."""
    size = COPY_ROW.itemsize
    buffer, header = bytearray(), True
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy,
    ):
        for block in copy:
            buffer += block
            if header and len(buffer) >= 19:
                if bytes(buffer[:11]) != COPY_SIGNATURE:
                    raise RuntimeError("unexpected COPY BINARY header from PostgreSQL")
                del buffer[: 19 + int.from_bytes(buffer[15:19], "big")]
                header = False
            if len(buffer) >= CHUNK_ROWS * size:
                whole = len(buffer) // size * size
                yield _parse_copy(buffer[:whole])
                del buffer[:whole]
    if bytes(buffer[-2:]) != b"\xff\xff" or (len(buffer) - 2) % size:
        raise RuntimeError("the COPY BINARY stream did not end on a row boundary")
    if len(buffer) > 2:
        yield _parse_copy(buffer[:-2])


def _parse_copy(data: bytearray) -> tuple[np.ndarray, ...]:
    rows = np.frombuffer(data, dtype=COPY_ROW)
    if not ((rows["fields"] == 4) & (rows["code_len"] == 2)).all():
        raise RuntimeError("a COPY BINARY row is not (int8, int8, int2, timestamptz)")
    return rows["user"], rows["item"], rows["code"], rows["time"] + PG_EPOCH_MICROS


def _cursor_chunks(sql: str, params: list):
    """The same arrays from a cursor read ``CHUNK_ROWS`` rows at a time (SQLite: timestamps are
    text, parsed by numpy)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_ROWS):
            users, items, codes, stamps = zip(*rows, strict=True)
            yield (
                np.array(users, np.int64),
                np.array(items, np.int64),
                np.array(codes, np.int16),
                np.array(stamps, "datetime64[us]").astype(np.int64),
            )


def _rows_by_pk(model, pks: np.ndarray, fields: tuple[str, ...]) -> dict[int, tuple]:
    """``fields`` of the rows whose keys are the sorted ``pks``: one chunked scan of their key
    range (an IN list of a million keys costs more than reading the rows beside them)."""
    wanted = set(pks.tolist())
    rows = (
        model.objects.filter(pk__gte=int(pks[0]), pk__lte=int(pks[-1]))
        .order_by()
        .values_list("pk", *fields)
    )
    return {row[0]: row[1:] for row in rows.iterator(chunk_size=50_000) if row[0] in wanted}


def _dense_index(pks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct keys (int64) and each row's position among them (int32).

    Keys are serial ids, so their span is about the table's size: a lookup table over it is
    one linear pass (np.unique's inverse sorts every row); a sparse span falls back to it."""
    low, high = int(pks.min()), int(pks.max())
    if high - low >= DENSE_SPAN:
        unique, index = np.unique(pks, return_inverse=True)
        return unique.astype(np.int64), index.astype(np.int32)
    present = np.zeros(high - low + 1, bool)
    present[pks - low] = True
    position = np.cumsum(present, dtype=np.int32) - 1
    return np.flatnonzero(present).astype(np.int64) + low, position[pks - low]


def _pair_matrices(user_index, item_index, weights, micros, first_us, shape):
    """The summed-weight matrix and the latest-event-minute matrix over the same pairs, from
    one stable sort of the events by (user, item)."""
    pairs = user_index.astype(np.int64) * shape[1] + item_index
    order = np.argsort(pairs, kind="stable")
    pairs = pairs[order]
    starts = np.flatnonzero(np.r_[True, pairs[1:] != pairs[:-1]])
    summed = np.add.reduceat(weights[order], starts)
    latest = np.maximum.reduceat(micros[order], starts)
    del order
    pairs = pairs[starts]
    rows, columns = pairs // shape[1], (pairs % shape[1]).astype(np.int32)
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=shape[0]))]
    del pairs, rows
    matrix = sp.csr_matrix((summed, columns, indptr), shape=shape, dtype=np.float32)
    # The same arithmetic as (seconds - first seconds) / 60 + 1 on float seconds.
    minutes = (latest / 1e6 - first_us / 1e6) / 60.0 + 1.0
    times = sp.csr_matrix((minutes.astype(np.float32), columns.copy(), indptr.copy()), shape=shape)
    return matrix, times
