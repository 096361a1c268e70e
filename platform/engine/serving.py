"""What every scenario's serving shares: which version answers, ids, attribution, list caching.

The API process holds no state another process needs: the promoted version and experiments live
in the database (read at most once per ``VERSION_CHECK_SECONDS`` per process), precomputed lists
and impression counters in the cache (Redis in production). Loaded artifacts are a per-process
memo keyed by version id, so a newer promotion is picked up without a restart.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import random
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from redis.exceptions import RedisError, ResponseError

from engine import registry
from engine.models import Experiment, ImpressionCount, ModelVersion, ScenarioConfig
from engine.scenario import Recommendation, RecommendationRequest

VERSION_CHECK_SECONDS = 2.0
# A stamp that expires only costs its user one recompute (a new stamp matches no stored list), so
# stamps of users who stop coming back, or of ids that never had events, do not pile up.
FRESHNESS_TTL_SECONDS = 7 * 86400
CLICK_EVENTS = ("click",)
CONVERSION_EVENTS = ("purchase",)
ARM_CODES = {"": "n", "control": "a", "treatment": "b"}
ARM_NAMES = {code: name for name, code in ARM_CODES.items()}


@dataclass(frozen=True)
class Route:
    """Which version serves a user and under which experiment arm ("" outside experiments)."""

    version_id: int | None
    arm: str = ""
    experiment_id: int | None = None


class _RouteTable:
    """Per-process memo of each scenario's promoted version, active experiment and saved
    settings."""

    def __init__(self):
        self._entries: dict[str, tuple[float, int | None, tuple | None, dict]] = {}
        self._lock = threading.Lock()

    def lookup(self, slug: str) -> tuple[int | None, tuple | None]:
        entry = self._entry(slug)
        return entry[1], entry[2]

    def saved_settings(self, slug: str) -> dict[str, Any]:
        """The operator's saved settings for ``slug`` (not overlaid on defaults)."""
        return self._entry(slug)[3]

    def _entry(self, slug: str) -> tuple[float, int | None, tuple | None, dict]:
        now = time.monotonic()
        entry = self._entries.get(slug)
        if entry is None or now - entry[0] > VERSION_CHECK_SECONDS:
            saved = (
                ScenarioConfig.objects.filter(slug=slug).values_list("settings", flat=True).first()
            )
            promoted = (
                ModelVersion.objects.filter(scenario=slug, status=ModelVersion.Status.PROMOTED)
                .values_list("pk", flat=True)
                .first()
            )
            experiment = (
                Experiment.objects.filter(scenario=slug, is_active=True)
                .values_list("pk", "control_id", "treatment_id", "treatment_share")
                .first()
            )
            entry = (now, promoted, experiment, saved or {})
            with self._lock:
                self._entries[slug] = entry
        return entry

    def forget(self, slug: str | None = None) -> None:
        """Drop the memo (tests, and right after this process promotes a version)."""
        with self._lock:
            if slug is None:
                self._entries.clear()
            else:
                self._entries.pop(slug, None)


routes = _RouteTable()


def user_bucket(user_id: str, salt: str) -> float:
    """A stable number in [0, 1) from the user id, independent across experiments."""
    digest = hashlib.blake2b(f"{salt}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def route_for(slug: str, user_id: str | None) -> Route:
    promoted, experiment = routes.lookup(slug)
    if experiment is not None and user_id:
        experiment_id, control_id, treatment_id, share = experiment
        if user_bucket(user_id, f"experiment-{experiment_id}") < share:
            return Route(treatment_id, "treatment", experiment_id)
        return Route(control_id, "control", experiment_id)
    return Route(promoted)


# Recommendation ids need to be unique, not secret (quoting one only attributes an event): a
# per-process generator, reseeded in every forked worker, spares each answer an OS random read.
_id_bits = random.Random()
os.register_at_fork(after_in_child=_id_bits.seed)


def new_recommendation_id(slug: str, route: Route) -> str:
    """``<slug>.<version or 0>.<arm code>.<128 random bits>``: attribution needs no lookup table."""
    return f"{slug}.{route.version_id or 0}.{ARM_CODES[route.arm]}.{_id_bits.getrandbits(128):032x}"


def parse_recommendation_id(recommendation_id: str) -> tuple[str, int | None, str] | None:
    """(scenario, model version id or None, arm) of an id we issued; None for anything else."""
    parts = recommendation_id.split(".")
    if len(parts) != 4 or not parts[1].isdigit() or parts[2] not in ARM_NAMES:
        return None
    version = int(parts[1]) or None
    return parts[0], version, ARM_NAMES[parts[2]]


def attribution_prefix(slug: str, version_id: int | None, arm: str) -> str:
    return f"{slug}.{version_id or 0}.{ARM_CODES[arm]}."


def _impression_key(slug: str, version_id: int | None, arm: str) -> str:
    return f"engine:impressions:{slug}:{version_id or 0}:{arm}"


# Impressions are counted in this process and pushed to the shared cache at most once per
# IMPRESSION_PUSH_SECONDS (one INCRBY per version and arm), not with a cache round trip per
# response: counts reach the admin a second later, and a killed process loses under a second.
IMPRESSION_PUSH_SECONDS = 1.0
_COUNTER_INDEX = "engine:impression-keys"


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
                cache.incr(key, count)
            except ValueError:  # missing (first impression, or evicted): start it
                if not cache.add(key, count, timeout=None):
                    cache.incr(key, count)
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
    impressions.add(_impression_key(slug, version_id, arm))


def pending_impressions(slug: str, version_id: int | None, arm: str) -> int:
    """Counted but not yet in the database: in the cache, plus this process's unpushed ones."""
    key = _impression_key(slug, version_id, arm)
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


def arm_stats(slug: str, version_id: int | None, arm: str) -> dict[str, Any]:
    """Impressions, clicks, conversions and CTR of responses from one version and arm."""
    from catalog.models import Interaction

    stored = ImpressionCount.objects.filter(
        scenario=slug, model_version_id=version_id, arm=arm
    ).aggregate(total=Sum("count"))["total"]
    impressions = int(stored or 0) + pending_impressions(slug, version_id, arm)
    clicked, converted = Q(event_type__in=CLICK_EVENTS), Q(event_type__in=CONVERSION_EVENTS)
    counts = Interaction.objects.filter(
        recommendation_id__startswith=attribution_prefix(slug, version_id, arm)
    ).aggregate(
        clicks=Count("pk", filter=clicked),
        conversions=Count("pk", filter=converted),
        # Responses with at least one such event: the yes/no outcome experiments compare.
        clicked_responses=Count("recommendation_id", filter=clicked, distinct=True),
        converted_responses=Count("recommendation_id", filter=converted, distinct=True),
    )
    clicks, conversions = counts["clicks"], counts["conversions"]
    return {
        "impressions": impressions,
        "clicks": clicks,
        "conversions": conversions,
        "clicked_responses": min(counts["clicked_responses"], impressions),
        "converted_responses": min(counts["converted_responses"], impressions),
        "ctr": clicks / impressions if impressions else 0.0,
        "conversion_rate": conversions / impressions if impressions else 0.0,
    }


def arm_daily(slug: str, version_id: int | None, arm: str) -> dict[Any, tuple[int, int]]:
    """Per day (UTC): impressions stored for one version and arm, and responses clicked that
    day (by the click's time). Unpushed impressions of the last second are left out."""
    from catalog.models import Interaction

    impressions = dict(
        ImpressionCount.objects.filter(scenario=slug, model_version_id=version_id, arm=arm)
        .values_list("day")
        .annotate(total=Sum("count"))
    )
    clicked = dict(
        Interaction.objects.filter(
            recommendation_id__startswith=attribution_prefix(slug, version_id, arm),
            event_type__in=CLICK_EVENTS,
        )
        .annotate(day=TruncDate("timestamp"))
        .values_list("day")
        .annotate(responses=Count("recommendation_id", distinct=True))
    )
    return {
        day: (int(impressions.get(day, 0)), int(clicked.get(day, 0)))
        for day in sorted(set(impressions) | set(clicked))
    }


class ArtifactMemo:
    """Per-process loaded serving artifacts, newest few versions, loaded once each."""

    def __init__(self, keep: int = 3):
        self.keep = keep
        self._loaded: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version_id: int, loader: Callable[[], Any]) -> Any:
        try:  # the hit, once per request, needs no lock: both steps are atomic under the GIL
            self._loaded.move_to_end(version_id)
            return self._loaded[version_id]
        except KeyError:  # not loaded (or evicted between the two steps)
            pass
        loaded = loader()
        with self._lock:
            self._loaded[version_id] = loaded
            while len(self._loaded) > self.keep:
                self._loaded.popitem(last=False)
        return loaded

    def clear(self) -> None:
        with self._lock:
            self._loaded.clear()


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


def freshness_by_signal() -> bool:
    """Whether a cached list's freshness comes from the per-user stamp the ``events_ingested``
    receiver bumps, rather than a newest-event query per request.

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
    django-redis stores as plain digits, so :class:`_TrackedStamps` reads it without unpickling."""
    return secrets.randbits(62)


def bump_freshness(user_ids: list[str]) -> None:
    """New events for these users: every list cached before now is stale (one cache write)."""
    cache.set_many({freshness_key(u): new_stamp() for u in user_ids}, timeout=FRESHNESS_TTL_SECONDS)
    _after_stamp_writes()


def clear_freshness(user_id: str) -> None:
    cache.delete(freshness_key(user_id))
    _after_stamp_writes()


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


class _TrackedStamps:
    """The stamps this thread has read, kept until Redis says they changed (Redis client-side
    caching: ``CLIENT TRACKING`` on a RESP3 connection per thread, which Redis sends an
    invalidation for every tracked key that is written, expires or is evicted).

    A cached answer then costs no Redis round trip while its user has no new events: one
    non-blocking poll for invalidations instead (the round trip was about a third of a cached
    answer's CPU). Strict read-your-writes rests on two rules. A writer round-trips a PING after
    its write (:func:`_after_stamp_writes`): Redis writes all replies and invalidations of one
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
        client = _redis_client()
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


_stamps = _TrackedStamps()


def _redis_client():
    """The default cache's django-redis client, or None for any other cache backend."""
    client = getattr(cache, "client", None)
    return client if hasattr(client, "get_client") else None


def _after_stamp_writes() -> None:
    """See :class:`_TrackedStamps`: once this returns, every process tracking a written stamp
    has its invalidation in its socket."""
    client = _redis_client()
    if client is not None:
        client.get_client(write=True).ping()


def freshness_stamp(user_id: str) -> Any:
    """The user's current stamp alone (one cache read; see :func:`freshness_of`)."""
    stamp = _stamps.get(freshness_key(user_id))
    return stamp if stamp is not None else freshness_of([user_id])[user_id]


def load_list_and_freshness(slug: str, version_id: int, user_id: str) -> tuple[Any, str]:
    """The user's cached list (or None) and current stamp, in one cache round trip when both
    are there."""
    stamp_key, entry_key = freshness_key(user_id), list_key(slug, version_id, user_id)
    found = cache.get_many([stamp_key, entry_key])
    stamp = found.get(stamp_key)
    if stamp is None:
        stamp = freshness_of([user_id])[user_id]
    return found.get(entry_key), stamp


def warm_up() -> list[str]:
    """Load every scenario's serving versions (promoted, and both arms of a running experiment)
    in this process; run by each server worker before it takes requests. Returns what loaded."""
    loaded = []
    for scenario in registry.all_scenarios():
        for version_id in served_versions(scenario.slug):
            scenario.warm_up(version_id)
            loaded.append(f"{scenario.slug} v{version_id}")
    return loaded


def served_versions(slug: str) -> list[int]:
    """Versions answering requests now: the promoted one and both arms of a running experiment."""
    promoted, experiment = routes.lookup(slug)
    return sorted({promoted, *(experiment[1:3] if experiment else ())} - {None})


def serve(slug: str, request: RecommendationRequest) -> dict[str, Any]:
    """Route, answer, stamp a recommendation id and count the impression."""
    scenario = registry.get(slug)
    route = route_for(slug, request.user_id)
    answer: Recommendation = scenario.recommend(request, route.version_id)
    recommendation_id = new_recommendation_id(slug, Route(answer.model_version, route.arm))
    count_impression(slug, answer.model_version, route.arm)
    body: dict[str, Any] = {
        "recommendation_id": recommendation_id,
        "scenario": slug,
        "model_version": answer.model_version,
        "cold_start": answer.cold_start,
        "fallback": answer.fallback,
        "items": answer.item_bodies
        if answer.item_bodies is not None
        else [item.body() for item in answer.items],
    }
    if route.arm:
        body["experiment_arm"] = route.arm
    body.update(answer.extra)
    return body
