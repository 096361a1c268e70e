"""Redis client-side caching of the freshness stamps every cached answer reads.

See :class:`TrackedStamps`. Other cache backends (local memory in tests) are read through the cache
API every time.

Only public redis-py API is used (``Connection.connect``, ``send_command``, ``read_response``,
``can_read``, ``disconnect``, ``register_connect_callback``, ``ConnectionPool.connection_class``
and ``connection_kwargs``). That rules out the RESP3 form of tracking, where invalidations arrive
as push messages on the data connection itself: redis-py 8.1 hands those only to a handler set on
the connection's private parser (``connection._parser.set_invalidation_push_handler``), and
without that handler its parser drops them before ``read_response`` returns. The RESP2 form
needs nothing private: invalidations are redirected to a second connection subscribed to
``__redis__:invalidate``, where they are ordinary pub/sub messages any public read returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any

from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

INVALIDATE_CHANNEL = "__redis__:invalidate"
logger = logging.getLogger(__name__)


class TrackedStamps:
    """The stamps this thread has read, kept until Redis says they changed (Redis client-side
    caching, RESP2 "redirect" mode). Each thread holds two plain connections to the primary: a
    subscriber, subscribed to ``__redis__:invalidate``, and a data connection running
    ``CLIENT TRACKING ON REDIRECT <subscriber id>``. Redis then publishes to the subscriber an
    invalidation for every key the data connection read that is written, expires or is evicted
    (``[b"message", b"__redis__:invalidate", [key, ...]]``, or a null key list when a database
    is flushed).

    A cached answer then costs no Redis round trip while its user has no new events: a
    non-blocking poll of both connections instead (the round trip was about a third of a cached
    answer's CPU). Strict read-your-writes rests on two rules. A writer round-trips a PING after
    its write (:func:`after_stamp_writes`): Redis writes all replies and invalidations of one
    event-loop pass before reading the PING, so the invalidation sits in this thread's
    subscriber socket before the writer answers its client. And a drain that finds a large
    backlog round-trips a PING on the subscriber (answered ``[b"pong", b""]`` in subscribed
    mode), because Redis writes at most 64 KB to a client per pass and whatever it held back
    comes before the pong. A value read on the data connection is kept before the next drain,
    so an invalidation racing that read is applied to it, never lost.

    Losing either connection forgets everything: a new pair and an empty memo next time. A dead
    data connection is no longer tracked by Redis; a dead subscriber leaves the data connection
    tracked with a broken redirect, of which Redis tells a RESP2 client nothing, so the data
    connection is closed with it. The poll sees either socket's end of file, and a silent
    reconnect by redis-py is refused by a connect callback.
    """

    BARRIER_AFTER_KEYS = 64  # invalidated keys in one drain (a few KB): maybe more held back
    CAPACITY = 100_000

    def __init__(self):
        self._local = threading.local()
        self.unsupported = False  # the server refused tracking: read every time
        os.register_at_fork(after_in_child=self.reset)  # never share a socket with the parent

    def reset(self) -> None:
        """Forget this thread's connections and memo (other threads': once they are collected).
        In a forked child the inherited sockets are only closed, never shut down, so the
        parent's connections stay usable."""
        local = self._local
        self._local = threading.local()
        for name in ("connection", "subscriber"):
            connection = getattr(local, name, None)
            if connection is not None:
                with contextlib.suppress(Exception):  # a socket already gone
                    connection.disconnect()

    def get(self, key: str) -> Any:
        client = redis_client()
        if client is None or self.unsupported:
            return cache.get(key)
        made, local = cache.make_key(key), self._local
        try:
            connection = getattr(local, "connection", None) or self._connect(client)
            if connection is None:  # tracking refused, or connections not buildable
                return cache.get(key)
            self._drain(connection, local.subscriber)
            if made in local.stamps:
                return local.stamps[made]
            connection.send_command("GET", made)
            value = connection.read_response()
        except (OSError, RedisError):
            self.reset()  # a new pair of connections (and an empty memo) next time
            return cache.get(key)
        if value is None:
            return None
        if len(local.stamps) >= self.CAPACITY:
            local.stamps.clear()
        local.stamps[made] = stamp = client.decode(value)
        return stamp

    def _connect(self, client):
        """This thread's subscriber and tracked data connection, or None (and ``unsupported``)
        where the server or the pool does not allow them."""
        # The primary, as for writes: a replica applies a write (and its invalidation) later
        # than the PING barrier on the primary returns.
        pool = client.get_client(write=True).connection_pool
        local = self._local
        local.stamps, local.invalidated = {}, 0
        try:
            # RESP2: pub/sub messages are plain replies. No health-check PING on the
            # subscriber, whose PING answer and queued messages would confuse the check.
            kwargs = {**pool.connection_kwargs, "protocol": 2}
            local.subscriber = subscriber = pool.connection_class(
                **{**kwargs, "health_check_interval": 0}
            )
            local.connection = connection = pool.connection_class(**kwargs)
            subscriber.connect()
            subscriber.send_command("CLIENT", "ID")
            redirect = subscriber.read_response()
            subscriber.send_command("SUBSCRIBE", INVALIDATE_CHANNEL)
            reply = subscriber.read_response()
            if not isinstance(reply, list) or _text(reply[0]) != "subscribe":
                raise ResponseError(f"SUBSCRIBE {INVALIDATE_CHANNEL} was answered {reply!r}")
            connection.connect()
            self._track(connection, redirect)
        except (ResponseError, TypeError):
            # CLIENT ID, SUBSCRIBE or CLIENT TRACKING refused (Redis < 6, an ACL, a restricted
            # proxy), or a pool whose connections need more than its keyword arguments
            # (Sentinel)
            self.unsupported = True
            self.reset()
            return None
        for each in (subscriber, connection):
            each.register_connect_callback(self._reconnected)  # not called for this connect
        return connection

    def _track(self, connection, redirect: int) -> None:
        connection.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", redirect)
        if _text(connection.read_response()) != "OK":
            raise ResponseError("CLIENT TRACKING ON was refused")

    def _reconnected(self, connection) -> None:
        """redis-py reconnected one of the pair by itself: what was tracked is lost."""
        raise RedisConnectionError("a tracking connection was re-established: start over")

    def _drain(self, connection, subscriber) -> None:
        """Apply the invalidations Redis has sent; with a large backlog, wait for the rest."""
        if connection.can_read(timeout=0):  # raises once the server closed it
            raise RedisConnectionError("unexpected data on the tracking data connection")
        self._local.invalidated = 0
        while subscriber.can_read(timeout=0):
            self._apply(subscriber.read_response())
        if self._local.invalidated >= self.BARRIER_AFTER_KEYS:
            subscriber.send_command("PING")
            while not self._apply(subscriber.read_response()):
                pass

    def _apply(self, message) -> bool:
        """Handle one message of the subscriber; True for the answer to a PING."""
        kind = _text(message[0]) if isinstance(message, list) and message else None
        if kind == "pong":
            return True
        if kind != "message" or _text(message[1]) != INVALIDATE_CHANNEL:
            raise RedisConnectionError(
                f"unexpected message on the invalidation channel: {message!r}"
            )
        stamps, keys = self._local.stamps, message[2]
        if keys is None:  # a database was flushed (any database: tracking has no db number)
            stamps.clear()
            return False
        for made in keys:
            stamps.pop(_text(made), None)
        self._local.invalidated += len(keys)
        return False


def _text(value) -> Any:
    return value.decode() if isinstance(value, bytes) else value


stamps = TrackedStamps()


def redis_client():
    """The default cache's django-redis client, or None for any other cache backend."""
    client = getattr(cache, "client", None)
    return client if hasattr(client, "get_client") else None


def after_stamp_writes() -> None:
    """See :class:`TrackedStamps`: once this returns, every process tracking a written stamp
    has its invalidation in its socket."""
    client = redis_client()
    if client is None:
        return
    try:
        client.get_client(write=True).ping()
    except (OSError, RedisError) as error:  # Redis is down: the stamp write was dropped too
        logger.warning("freshness stamps not written, the cache is unreachable: %s", error)
