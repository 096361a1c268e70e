"""Exposures: every answer served is counted per scenario, model version and experiment arm.

Counts are kept in this process and pushed to the shared cache at most once per
``IMPRESSION_PUSH_SECONDS`` (one INCRBY per version and arm), not with a cache round trip per
response: counts reach the admin a second later, and a killed process loses under a second. A
periodic task moves the cache counters into ImpressionCount rows.
"""

from __future__ import annotations

import atexit
import threading
import time

from django.core.cache import cache
from django.utils import timezone

from engine.models import ImpressionCount

IMPRESSION_PUSH_SECONDS = 1.0
_COUNTER_INDEX = "engine:impression-keys"


def impression_key(slug: str, version_id: int | None, arm: str) -> str:
    return f"engine:impressions:{slug}:{version_id or 0}:{arm}"


class _ImpressionBuffer:
    def __init__(self):
        self._counts: dict[str, int] = {}
        self._pushed_at = time.monotonic()
        self._known: set[str] = set()  # counter keys this process has put in the index
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            due = time.monotonic() - self._pushed_at >= IMPRESSION_PUSH_SECONDS
        if due:
            self.push()

    def local(self, key: str) -> int:
        return self._counts.get(key, 0)

    def push(self) -> None:
        """Move this process's counts into the cache counters."""
        with self._lock:
            counts, self._counts = self._counts, {}
            self._pushed_at = time.monotonic()
        for key, count in counts.items():
            try:
                total = cache.incr(key, count)
            except ValueError:  # missing (first impression, or evicted): start it
                total = count if cache.add(key, count, timeout=None) else cache.incr(key, count)
            if total is None:  # the cache is unreachable: keep the count for the next push
                with self._lock:
                    self._counts[key] = self._counts.get(key, 0) + count
                continue
            self._remember(key)

    def forget(self) -> None:
        """Drop unpushed counts and what this process put in the index (tests, cache resets)."""
        with self._lock:
            self._counts.clear()
            self._known.clear()

    def _remember(self, key: str) -> None:
        if key not in self._known:
            self._known.add(key)
            keys = set(cache.get(_COUNTER_INDEX) or ())
            if key not in keys:
                cache.set(_COUNTER_INDEX, sorted(keys | {key}), timeout=None)


impressions = _ImpressionBuffer()
atexit.register(impressions.push)


def count_impression(slug: str, version_id: int | None, arm: str) -> None:
    impressions.add(impression_key(slug, version_id, arm))


def pending_impressions(slug: str, version_id: int | None, arm: str) -> int:
    """Counted but not yet in the database: in the cache, plus this process's unpushed ones."""
    key = impression_key(slug, version_id, arm)
    return int(cache.get(key) or 0) + impressions.local(key)


def flush_impressions() -> int:
    """Move cache counters into ImpressionCount rows for today; returns impressions moved."""
    impressions.push()
    moved = 0
    today = timezone.now().date()
    for key in cache.get(_COUNTER_INDEX) or ():
        count = int(cache.get(key) or 0)
        if not count:
            continue
        cache.decr(key, count)  # atomic: increments racing with the flush stay counted
        _, _, slug, version, arm = key.split(":")
        version_id = int(version) or None
        row, _ = ImpressionCount.objects.get_or_create(
            scenario=slug, model_version_id=version_id, arm=arm, day=today
        )
        ImpressionCount.objects.filter(pk=row.pk).update(count=row.count + count)
        moved += count
    return moved
