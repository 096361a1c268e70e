"""Per-key throttling; the rate comes from REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['api_key'].

A fixed window counted with ``cache.incr`` (``cache.add`` opens it) (atomic in Redis, locked in the
local-memory cache), so a request costs one small integer operation whatever the rate. DRF's
SimpleRateThrottle instead keeps every request time of the window in one cached list: at
thousands of requests/s each request (un)pickled tens of thousands of floats.

Trade-offs, both bounded: a key may send up to twice its rate across a window boundary (the end
of one window and the start of the next); with the local-memory cache (the embedded default)
each server process counts on its own, so the rate holds per process, not per deployment.
"""

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
        """Count this request in its window and return the window's count so far.

        INCR first: the window usually exists, so a request costs one cache round trip.
        """
        try:
            return self.cache.incr(window_key)
        except ValueError:  # the window's first request (or its entry expired)
            # The entry outlives its window by a second so a late incr still finds it.
            if self.cache.add(window_key, 1, self.duration + 1):
                return 1
            return self.cache.incr(window_key)  # another request opened it meanwhile

    def wait(self):
        """Seconds until the current window ends (DRF rounds up for Retry-After)."""
        return max(self.window_ends_at - self.timer(), 0.001)
