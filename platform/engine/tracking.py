"""Redis client-side caching of the freshness stamps every cached answer reads.

See :class:`TrackedStamps`. Other cache backends (local memory in tests) are read through the cache
API every time.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.core.cache import cache
from redis.exceptions import RedisError, ResponseError


class TrackedStamps:
    """The stamps this thread has read, kept until Redis says they changed (Redis client-side
    caching: ``CLIENT TRACKING`` on a RESP3 connection per thread, which Redis sends an
    invalidation for every tracked key that is written, expires or is evicted).

    A cached answer then costs no Redis round trip while its user has no new events: one
    non-blocking poll for invalidations instead (the round trip was about a third of a cached
    answer's CPU). Strict read-your-writes rests on two rules. A writer round-trips a PING after
    its write (:func:`after_stamp_writes`): Redis writes all replies and invalidations of one
    event-loop pass before reading the PING, so the invalidation sits in this thread's socket
    before the writer answers its client. And a drain that finds a large backlog round-trips a
    PING on this connection, because Redis writes at most 64 KB to a client per pass and
    whatever it held back comes before the PONG. Other caches (local memory in tests) are read
    through the cache API every time.
    """

    BARRIER_AFTER_KEYS = 64  # invalidated keys in one drain (a few KB): maybe more held back
    CAPACITY = 100_000

    def __init__(self):
        self._local = threading.local()
        self.unsupported = False  # the server refused RESP3 or tracking: read every time
        os.register_at_fork(after_in_child=self.reset)  # never share a socket with the parent

    def reset(self) -> None:
        self._local = threading.local()

    def get(self, key: str) -> Any:
        client = redis_client()
        if client is None or self.unsupported:
            return cache.get(key)
        made, local = cache.make_key(key), self._local
        try:
            connection = getattr(local, "connection", None) or self._connect(client)
            self._drain(connection)
            if made in local.stamps:
                return local.stamps[made]
            connection.send_command("GET", made)
            value = connection.read_response()  # invalidations before the reply are handled
        except (ResponseError, TypeError):
            # HELLO 3 or CLIENT TRACKING refused (Redis < 6, a restricted proxy), or a pool
            # whose connections need more than its keyword arguments (Sentinel)
            self.unsupported = True
            self.reset()
            return cache.get(key)
        except (OSError, RedisError):
            self.reset()  # a new connection (and an empty memo) next time
            return cache.get(key)
        if value is None:
            return None
        if len(local.stamps) >= self.CAPACITY:
            local.stamps.clear()
        local.stamps[made] = stamp = client.decode(value)
        return stamp

    def _connect(self, client):
        # The primary, as for writes: a replica applies a write (and its invalidation) later
        # than the PING barrier on the primary returns.
        pool = client.get_client(write=True).connection_pool
        connection = pool.connection_class(**{**pool.connection_kwargs, "protocol": 3})
        connection.register_connect_callback(self._track)  # also after a reconnect
        self._local.connection = connection
        connection.connect()
        return connection

    def _track(self, connection) -> None:
        """Run on every (re)connect: nothing read before it is tracked any more."""
        self._local.stamps, self._local.invalidated = {}, 0
        connection._parser.set_invalidation_push_handler(self._invalidate)
        connection.send_command("CLIENT", "TRACKING", "ON")
        if connection.read_response() != b"OK":
            raise ResponseError("CLIENT TRACKING ON was refused")

    def _invalidate(self, message) -> None:
        keys = message[1]
        if keys is None:  # the database was flushed
            self._local.stamps.clear()
            return
        for made in keys:
            self._local.stamps.pop(made.decode() if isinstance(made, bytes) else made, None)
        self._local.invalidated += len(keys)

    def _drain(self, connection) -> None:
        """Apply the invalidations Redis has sent; with a large backlog, wait for the rest."""
        self._local.invalidated = 0
        while connection.can_read(timeout=0):
            connection.read_response(push_request=True)
        if self._local.invalidated >= self.BARRIER_AFTER_KEYS:
            connection.send_command("PING")
            while connection.read_response(push_request=True) != b"PONG":
                pass


stamps = TrackedStamps()


def redis_client():
    """The default cache's django-redis client, or None for any other cache backend."""
    client = getattr(cache, "client", None)
    return client if hasattr(client, "get_client") else None


def after_stamp_writes() -> None:
    """See :class:`TrackedStamps`: once this returns, every process tracking a written stamp
    has its invalidation in its socket."""
    client = redis_client()
    if client is not None:
        client.get_client(write=True).ping()
