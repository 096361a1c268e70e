"""A user's catalog events as the serving path reads them: newest first, in plain SQL.

Plain SQL on the request path: compiling the same ORM queries cost more than serving a cached
list. :func:`newest_event_pk` is the freshness stamp of a cached list where the cache is per
process (see :mod:`engine.freshness`).
"""

from __future__ import annotations

import functools
import threading

from django.db import connection

from catalog.models import Interaction, User


@functools.cache
def _user_event_sql(vendor: str) -> tuple[str, str]:
    """SQL for one user's (by external id) newest event pk and newest events, per database
    vendor. Plain SQL on the request path: compiling the same ORM queries cost more than
    serving a cached list."""
    interaction, user = Interaction._meta, User._meta
    quote = connection.ops.quote_name

    def column(meta, name: str) -> str:
        return quote(meta.get_field(name).column)

    pk = f"e.{quote(interaction.pk.column)}"
    events = (
        f"FROM {quote(interaction.db_table)} e JOIN {quote(user.db_table)} u "
        f"ON e.{column(interaction, 'user')} = u.{quote(user.pk.column)} "
        f"WHERE u.{column(user, 'external_id')} = %s"
    )
    newest = f"SELECT MAX({pk}) {events}"
    history = (
        f"SELECT {pk}, e.{column(interaction, 'item')}, e.{column(interaction, 'event_type')} "
        f"{events} ORDER BY e.{column(interaction, 'timestamp')} DESC, {pk} DESC "
        "LIMIT %s"
    )
    return newest, history


class _NewestEvents:
    """Each user's newest event pk, re-read only when the database may have changed.

    On SQLite (the embedded default, whose per-process cache makes this the stamp every cached
    answer reads) ``PRAGMA data_version`` moves when another connection commits and the
    connection's ``total_changes`` when it writes itself. While both stand still no user's
    newest event can have changed, so the pragma replaces the query: under gunicorn the query
    was about a tenth of a cached answer's CPU. Other databases are queried each time.
    """

    def __init__(self, capacity: int = 100_000):
        self.capacity = capacity
        self._local = threading.local()  # Django's connections are per thread too

    def get(self, user_id: str) -> int | None:
        if connection.vendor != "sqlite":
            return self._query(user_id)
        connection.ensure_connection()
        raw, local = connection.connection, self._local
        gate = self.gate(raw)
        known = getattr(local, "stamps", None)
        # ``is``: a new connection's counters start over and could repeat the old gate.
        if (
            known is None
            or local.raw is not raw
            or local.gate != gate
            or len(known) > self.capacity
        ):
            local.raw, local.gate, local.stamps = raw, gate, {}
        elif user_id in known:
            return known[user_id]
        local.stamps[user_id] = stamp = self._query(user_id)
        return stamp

    @staticmethod
    def gate(raw) -> tuple[int, int]:
        """What changes whenever the data a SQLite connection reads may have changed."""
        return raw.execute("PRAGMA data_version").fetchone()[0], raw.total_changes

    @staticmethod
    def _query(user_id: str) -> int | None:
        with connection.cursor() as cursor:
            cursor.execute(_user_event_sql(connection.vendor)[0], [user_id])
            return cursor.fetchone()[0]


_newest_events = _NewestEvents()


def newest_event_pk(user_id: str) -> int | None:
    """pk of the user's newest event: a cached list's freshness stamp where the cache is per
    process."""
    return _newest_events.get(user_id)


def history_of(user_id: str, limit: int) -> list[tuple[int, int, str]]:
    """(event pk, item pk, event type) of the user's ``limit`` newest events, newest first."""
    with connection.cursor() as cursor:
        cursor.execute(_user_event_sql(connection.vendor)[1], [user_id, limit])
        return [tuple(row) for row in cursor.fetchall()]
