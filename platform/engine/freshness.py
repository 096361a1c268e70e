"""Per-user freshness stamps: a cached list (or kept answer) is fresh while the user's stamp is
the one it was computed under.

Where every process shares the cache (Redis), the ``events_ingested`` receiver gives each user
with new events a new random stamp; a per-process cache (the embedded default) cannot tell other
processes, so there the stamp is the pk of the user's newest event (:mod:`engine.history`).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache

from engine.history import newest_event_pk
from engine.lists import list_key
from engine.tracking import after_stamp_writes, stamps

# A stamp that expires only costs its user one recompute (a new stamp matches no stored list), so
# stamps of users who stop coming back, or of ids that never had events, do not pile up.
FRESHNESS_TTL_SECONDS = 7 * 86400


def freshness_by_signal() -> bool:
    """Whether freshness comes from the stamp the ``events_ingested`` receiver bumps, rather than
    a newest-event query per request.

    The stamp only works where every process shares the cache (Redis): with a per-process
    local-memory cache, a POST handled by one gunicorn worker could not tell the others. The
    ``ENGINE_FRESHNESS_BY_SIGNAL`` setting overrides the guess (tests run in one process).
    """
    explicit = getattr(settings, "ENGINE_FRESHNESS_BY_SIGNAL", None)
    if explicit is not None:
        return bool(explicit)
    return not isinstance(caches["default"], LocMemCache)


def freshness_key(user_id: str) -> str:
    digest = hashlib.blake2b(user_id.encode(), digest_size=12).hexdigest()
    return f"engine:fresh:{digest}"


def new_stamp() -> int:
    """A fresh stamp: random, so it matches no list stored before it; an integer, which
    django-redis stores as plain digits, so the tracked read needs no unpickling."""
    return secrets.randbits(62)


def bump_freshness(user_ids: list[str]) -> None:
    """New events for these users: every list cached before now is stale (one cache write)."""
    cache.set_many({freshness_key(u): new_stamp() for u in user_ids}, timeout=FRESHNESS_TTL_SECONDS)
    after_stamp_writes()


def clear_freshness(user_id: str) -> None:
    cache.delete(freshness_key(user_id))
    after_stamp_writes()


def freshness_of(user_ids: list[str]) -> dict[str, Any]:
    """Each user's current stamp, starting one where there is none (first use or evicted).

    Read it *before* reading the user's events: an event committed later bumps the stamp after
    its commit, so a list computed without that event and stored under this stamp is never
    mistaken for fresh. A new stamp matches no stored list, so an evicted stamp is safe too.
    """
    keys = {freshness_key(u): u for u in user_ids}
    found = cache.get_many(list(keys))
    # Overwriting a stamp another process just started only makes its list look stale (one
    # extra recompute); no write can make a stale list look fresh, since every stamp is new.
    started = {key: new_stamp() for key in keys if key not in found}
    cache.set_many(started, timeout=FRESHNESS_TTL_SECONDS)
    return {keys[key]: stamp for key, stamp in (found | started).items()}


def freshness_stamp(user_id: str) -> Any:
    """The user's current stamp alone (one tracked cache read; see :func:`freshness_of`)."""
    stamp = stamps.get(freshness_key(user_id))
    return stamp if stamp is not None else freshness_of([user_id])[user_id]


def user_stamp(user_id: str) -> Any:
    """The user's stamp under whichever rule this deployment uses (None: no events yet, on the
    per-process rule)."""
    if freshness_by_signal():
        return freshness_stamp(user_id)
    return newest_event_pk(user_id)


def load_list_and_freshness(slug: str, version_id: int, user_id: str) -> tuple[Any, Any]:
    """The user's cached list (or None) and current stamp, in one cache round trip when both
    are there."""
    stamp_key, entry_key = freshness_key(user_id), list_key(slug, version_id, user_id)
    found = cache.get_many([stamp_key, entry_key])
    stamp = found.get(stamp_key)
    if stamp is None:
        stamp = freshness_of([user_id])[user_id]
    return found.get(entry_key), stamp
