"""The serving path's few statements as plain SQL (SQLite and PostgreSQL alike).

The ORM builds and compiles a query in about 0.3-0.5 ms of Python; these run in a few tens of
microseconds. Each one states in its docstring the ORM query it stands for (the tests compare
them): a request reads the inventory generation with its user, their history and the campaigns
they saw up to the frequency cap today in one round trip, checks the campaigns it is about to
show in one, and writes its impressions in one (the database counts them in the user's
history).

Parameters go through ``connection.ops`` adapters (what the ORM does), so a datetime is stored
and compared as the ORM stores it on either database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import NamedTuple

from django.db import connection

from catalog.models import User

from .models import Ad, Campaign, Impression, Inventory, UserHistory


class HistoryCounts(NamedTuple):
    """A ``UserHistory`` row's counters, as ``scoring.Scorer.department_numeric`` reads them."""

    impressions: int
    clicks: int
    purchases: dict


@dataclass(frozen=True)
class Viewer:
    """What serving reads of the requesting user: catalog attributes and ad history."""

    pk: int
    age_band: str
    location: str
    segments: list
    history: HistoryCounts | None  # None: no UserHistory row yet
    capped: frozenset  # pks of the campaigns this user saw ``cap`` times or more today


def _json(value):
    if value is None or isinstance(value, dict | list):
        return value
    return json.loads(value)


def _tables() -> dict[str, str]:
    q = connection.ops.quote_name
    names = {
        "campaign": Campaign._meta.db_table,
        "ad": Ad._meta.db_table,
        "impression": Impression._meta.db_table,
        "inventory": Inventory._meta.db_table,
        "user": User._meta.db_table,
        "history": UserHistory._meta.db_table,
    }
    columns = ("end", "timestamp", "position", "hour", "status", "start")
    return {key: q(name) for key, name in names.items()} | {c: q(c) for c in columns}


@cache
def _viewer_sql() -> str:
    t = _tables()
    return (
        f"SELECT (SELECT generation FROM {t['inventory']} WHERE id = 1), u.id, u.age_band, "
        f"u.location, u.segments, h.id, h.impressions, h.clicks, h.purchases, f.campaign_id "
        f"FROM (SELECT 1 AS one) AS one "
        f"LEFT JOIN {t['user']} u ON u.external_id = %s "
        f"LEFT JOIN {t['history']} h ON h.user_id = u.id "
        f"LEFT JOIN (SELECT a.campaign_id FROM {t['impression']} i "
        f"INNER JOIN {t['ad']} a ON a.id = i.ad_id "
        f"WHERE i.user_id IN (SELECT id FROM {t['user']} WHERE external_id = %s) "
        f"AND i.{t['timestamp']} >= %s GROUP BY a.campaign_id HAVING COUNT(*) >= %s) f ON 1 = 1"
    )


def generation_and_viewer(
    external_id: str | None, day_start: datetime, cap: int
) -> tuple[int, Viewer | None]:
    """The inventory generation (``inventory.current_generation``), the user with their
    ``UserHistory`` (``User.objects.select_related("ad_history")``) and the campaigns whose
    impressions to them since ``day_start`` reached ``cap`` (the frequency cap), in one round
    trip."""
    moment = connection.ops.adapt_datetimefield_value(day_start)
    with connection.cursor() as cursor:
        cursor.execute(_viewer_sql(), [external_id, external_id, moment, cap])
        rows = cursor.fetchall()
    generation, pk, age_band, location, segments, history_pk, shown, clicks, bought, _ = rows[0]
    if pk is None:
        return generation or 0, None
    history = None if history_pk is None else HistoryCounts(shown, clicks, _json(bought) or {})
    capped = frozenset(row[-1] for row in rows if row[-1] is not None)
    return generation or 0, Viewer(pk, age_band, location, _json(segments) or [], history, capped)


@cache
def _live_sql(n: int) -> str:
    t = _tables()
    marks = ", ".join(["%s"] * n)
    return (
        f"SELECT c.id, c.{t['status']} = %s AND c.{t['start']} <= %s AND c.{t['end']} > %s "
        f"AND c.spent_total < c.total_budget, "
        f"c.daily_budget, CASE WHEN c.spend_day = %s THEN c.spent_today ELSE 0 END "
        f"FROM {t['campaign']} c WHERE c.id IN ({marks})"
    )


def campaign_states(
    campaign_pks: list[int], now: datetime, day_start: datetime
) -> list[tuple[int, bool, float, float]]:
    """Per campaign: whether it is active, in date and under its total budget now; its daily
    budget; and what it spent today. Campaigns that no longer exist are absent."""
    ops = connection.ops
    moment = ops.adapt_datetimefield_value(now)
    params = [
        Campaign.Status.ACTIVE.value,
        moment,
        moment,
        ops.adapt_datefield_value(day_start.date()),
        *campaign_pks,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_live_sql(len(campaign_pks)), params)
        rows = cursor.fetchall()
    return [(pk, bool(live), float(daily), float(today or 0)) for pk, live, daily, today in rows]


@cache
def _insert_sql(n: int, vendor: str) -> str:
    t = _tables()
    columns = (
        f"user_id, ad_id, slot_id, recommendation_id, {t['position']}, price, device, "
        f"{t['hour']}, {t['timestamp']}"
    )
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * n)
    insert = f"INSERT INTO {t['impression']} ({columns}) VALUES {values}"
    # Outside a transaction block the two run as one implicit transaction (the simple query
    # protocol of Django's client-side binding cursor), so SET LOCAL covers the INSERT.
    return f"SET LOCAL synchronous_commit TO OFF; {insert}" if vendor == "postgresql" else insert


def log_impressions(
    user_pk: int | None,
    slot_pk: int,
    recommendation_id: str,
    placements: list[tuple[int, Decimal]],
    device: str,
    hour: int | None,
    now: datetime,
) -> None:
    """One ``Impression`` per (ad pk, price), at positions 1, 2...: one statement, with which
    the database counts them in the user's history (a trigger, migration 0003).

    On PostgreSQL the statement's commit does not wait for its WAL flush (``synchronous_commit``
    off for it only, sent in the same round trip): the rows are visible to a click at once, and
    a database crash may lose the last fraction of a second of them, which then charge
    nothing."""
    ops = connection.ops
    moment = ops.adapt_datetimefield_value(now)
    params = []
    for position, (ad_pk, price) in enumerate(placements, start=1):
        params += [
            user_pk,
            ad_pk,
            slot_pk,
            recommendation_id,
            position,
            ops.adapt_decimalfield_value(price, 12, 4),
            device,
            hour,
            moment,
        ]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(len(placements), connection.vendor), params)
