"""Precomputed lists in the shared cache (Redis in production), one per scenario, version and
user: written in bulk by the scoring queue, one at a time by a request that had to compute it."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.cache import cache


def list_key(slug: str, version_id: int, user_id: str) -> str:
    digest = hashlib.blake2b(user_id.encode(), digest_size=12).hexdigest()
    return f"engine:list:{slug}:{version_id}:{digest}"


def store_lists(slug: str, version_id: int, lists: dict[str, Any], timeout: int | None) -> None:
    """Write precomputed lists in chunks (one round trip per chunk on Redis)."""
    items = list(lists.items())
    for start in range(0, len(items), 1000):
        chunk = items[start : start + 1000]
        cache.set_many({list_key(slug, version_id, u): v for u, v in chunk}, timeout=timeout)


def store_list(slug: str, version_id: int, user_id: str, entry: Any, timeout: int | None) -> None:
    """One user's list, computed at request time (a plain SET: no pipeline for one key)."""
    cache.set(list_key(slug, version_id, user_id), entry, timeout=timeout)


def load_list(slug: str, version_id: int, user_id: str) -> Any:
    return cache.get(list_key(slug, version_id, user_id))


def drop_lists_of(user_id: str, versions: list[tuple[str, int]]) -> None:
    """Forget a user's lists of these (scenario, version) pairs (the user was erased)."""
    cache.delete_many([list_key(slug, pk, user_id) for slug, pk in versions])
