"""Per-key throttling; the rate comes from REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['api_key'].

A fixed window per key, counted in the server process and added to a shared counter in the cache
(``cache.incr``, atomic in Redis) at most every ``SYNC_SECONDS``: a request costs a dict update,
not a cache round trip. DRF's SimpleRateThrottle instead keeps every request time of the window
in one cached list: at thousands of requests/s each request (un)pickled tens of thousands of
floats.

Trade-offs, all bounded: a key may send up to twice its rate across a window boundary (the end
of one window and the start of the next); a process does not see the other processes' requests
of the last ``SYNC_SECONDS``, so a deployment may overshoot by what they send in that time; with
the local-memory cache (the embedded default) each server process counts on its own, so the rate
holds per process, not per deployment.
"""

import math
import threading
import time

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from catalog.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"
    cache_format = "throttle:%(scope)s:%(ident)s"

    def get_rate(self):
        # Read at request time (not import time) so settings overrides and env changes apply.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return None  # unauthenticated endpoints (health) are not throttled per key
        # The hash, not the id: SQLite may reuse a deleted key's id, never a hash.
        return self.cache_format % {"scope": self.scope, "ident": request.auth.key_hash}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        self.window_ends_at = (window + 1) * self.duration
        return self.count_request(f"{key}:{window}") <= self.num_requests

    def count_request(self, window_key: str) -> int:
        """Count this request in its window and return the window's count so far."""
        # The entry outlives its window by a second so a late sync still finds it.
        return _counts.count(self.cache, window_key, self.duration + 1)

    def wait(self):
        """Seconds until the current window ends (DRF rounds up for Retry-After)."""
        return max(self.window_ends_at - self.timer(), 0.001)


SYNC_SECONDS = 0.05


class _WindowCounts:
    """This process's count of each key's current window, synced with the shared counter."""

    def __init__(self):
        self._lock = threading.Lock()
        # key -> [window key, shared total at the last sync, unsynced requests, last sync time]
        self._windows: dict[str, list] = {}

    def count(self, cache, window_key: str, timeout: int) -> int:
        key = window_key.rpartition(":")[0]
        now = time.monotonic()
        with self._lock:
            entry = self._windows.get(key)
            if entry is None or entry[0] != window_key:
                entry = self._windows[key] = [window_key, 0, 0, -math.inf]
            entry[2] += 1
            if now - entry[3] < SYNC_SECONDS:
                return entry[1] + entry[2]
            unsynced, entry[2], entry[3] = entry[2], 0, now
        shared = _add(cache, window_key, unsynced, timeout)
        with self._lock:
            if shared is None:  # the cache is down: this process's own count limits alone
                entry[1] += unsynced
            else:
                entry[1] = max(entry[1], shared)
            return entry[1] + entry[2]


def _add(cache, key: str, amount: int, timeout: int) -> int | None:
    """Add ``amount`` to the shared counter ``key`` (opening it if missing); the new total, or
    None while the cache is unreachable (it then answers None to every call)."""
    try:
        return cache.incr(key, amount)
    except ValueError:  # the window's first sync (or its entry expired)
        if cache.add(key, amount, timeout):
            return amount
        return cache.incr(key, amount)  # another process opened it meanwhile


_counts = _WindowCounts()
