"""Model version lifecycle: queue -> train -> evaluate -> promote (or not) -> score; rollback.

The promotion rule: a succeeded version replaces the promoted one only when its primary metric is
at least the current one's minus the scenario's ``promotion_tolerance`` (and ``auto_promote`` is
on; an operator can promote by hand). A failed or worse version never replaces the served one.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from engine import registry
from engine.lists import store_lists
from engine.models import Experiment, ModelVersion, ScenarioConfig
from engine.queues import SCORING, send
from engine.routing import routes, served_versions

logger = logging.getLogger(__name__)
# A training process stamps its version this often; silent for HEARTBEAT_LOST_SECONDS, it is
# taken for dead by the reaper (which runs every ten minutes).
HEARTBEAT_SECONDS = 30
HEARTBEAT_LOST_SECONDS = 180
Status = ModelVersion.Status


def artifact_dir(version: ModelVersion) -> Path:
    return Path(settings.ARTIFACTS_DIR) / version.scenario / f"v{version.pk}"


def plot_path(version: ModelVersion) -> Path:
    return artifact_dir(version) / "history.png"


def request_training(slug: str, triggered_by: str = "manual") -> ModelVersion:
    """Record a queued version and enqueue its training once the row is committed."""
    scenario = registry.get(slug)
    if not scenario.is_trainable():
        raise ValueError(f"scenario {slug!r} serves rules only; it has no model to train")
    effective = ScenarioConfig.for_slug(slug).effective()
    version = ModelVersion.objects.create(
        scenario=slug,
        algorithm=str(effective.get("model", scenario.kind)),
        hyperparameters=effective.get("hyperparameters", {}),
        settings=effective,
        primary_metric=scenario.primary_metric,
        triggered_by=triggered_by,
    )
    transaction.on_commit(
        lambda: send("engine.train_version", version.pk, queue=scenario.training_queue)
    )
    return version


def _claim(version_id: int, worker: str) -> ModelVersion | None:
    """Move a queued version to running; None if another run already took it (idempotence)."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().filter(pk=version_id).first()
        if version is None or version.status != Status.QUEUED:
            return None
        version.status = Status.RUNNING
        version.started_at = timezone.now()
        version.error = ""
        version.worker = worker
        version.heartbeat_at = version.started_at
        version.save(update_fields=["status", "started_at", "error", "worker", "heartbeat_at"])
    return version


def run_training(version_id: int, worker: str = "") -> ModelVersion | None:
    """Train a queued version, record the outcome, and promote it if it passes the rule.
    ``worker`` names the Celery worker running it, so the reaper can tell when it died."""
    version = _claim(version_id, worker)
    if version is None:
        logger.info("version %s is not queued; nothing to do", version_id)
        return None
    scenario = registry.get(version.scenario)
    folder = artifact_dir(version)
    started = time.monotonic()
    heartbeat = _Heartbeat(version.pk)
    heartbeat.start()
    try:
        outcome = scenario.train(version, folder, version.set_progress)
    except Exception as error:  # the version records any failure; the served one is untouched
        return _failed(version, error, started, folder)
    finally:
        heartbeat.stop()
    version.metrics = outcome.metrics
    version.history = outcome.history
    if outcome.search is not None:
        version.search = outcome.search
    if outcome.algorithm:
        version.algorithm = outcome.algorithm
    if outcome.hyperparameters is not None:
        version.hyperparameters = outcome.hyperparameters
    version.data_snapshot = outcome.data_snapshot
    version.primary_value = outcome.metrics.get(version.primary_metric)
    version.artifact_path = str(folder)
    try:  # load what was written as a server would: an artifact that does not load never serves
        scenario.load_state(version)
    except Exception as error:
        error = RuntimeError(
            f"the artifact it wrote does not load: {type(error).__name__}: {error}"
        )
        return _failed(version, error, started, folder)
    version.status = Status.SUCCEEDED
    version.finished_at = timezone.now()
    version.train_seconds = outcome.train_seconds or (time.monotonic() - started)
    version.progress = 1.0
    version.progress_message = "trained"
    _plot_history(version)
    with transaction.atomic():  # observers see running, then the final state with its decision
        version.save()
        maybe_promote(version)
    return version


def _failed(version: ModelVersion, error: Exception, started: float, folder: Path) -> ModelVersion:
    version.status = Status.FAILED
    version.artifact_path = ""
    version.error = f"{type(error).__name__}: {error}\n\n{traceback.format_exc()}"[:20000]
    version.finished_at = timezone.now()
    version.train_seconds = time.monotonic() - started
    version.save()
    shutil.rmtree(folder, ignore_errors=True)
    logger.warning("training %s failed: %s", version, error)
    return version


def reap_stale_runs() -> int:
    """Fail versions left "running" by a process that is gone: no heartbeat for
    ``HEARTBEAT_LOST_SECONDS`` (killed, out of memory, restarted), or past the training timeout
    (a hung run). A redelivered task skips a version that is no longer queued, so nothing else
    would ever finish them. Their artifact folders, maybe half written, are removed. Returns
    how many were failed."""
    running = ModelVersion.objects.filter(status=Status.RUNNING)
    timeout = settings.ENGINE_TRAINING_TIMEOUT_SECONDS
    now = timezone.now()
    silent = now - timedelta(seconds=HEARTBEAT_LOST_SECONDS)
    stale = {}
    for pk, worker in running.filter(heartbeat_at__lt=silent).values_list("pk", "worker"):
        stale[pk] = (
            f"the process training it ({worker or 'in-process'}) stopped: no sign of life for "
            f"{HEARTBEAT_LOST_SECONDS} s (killed, out of memory or restarted); nothing it wrote "
            "is served. Train again; if it recurs, look at the worker's memory and logs."
        )
    for pk in running.filter(started_at__lt=now - timedelta(seconds=timeout)).values_list(
        "pk", flat=True
    ):
        stale.setdefault(
            pk,
            f"still running {timeout} s after it started: the run hung or its worker stopped. "
            "Train again; if it recurs, look at the worker's memory and logs.",
        )
    failed = 0
    for pk, reason in stale.items():
        failed += running.filter(pk=pk).update(status=Status.FAILED, finished_at=now, error=reason)
        shutil.rmtree(artifact_dir(ModelVersion.objects.get(pk=pk)), ignore_errors=True)
    return failed


class _Heartbeat(threading.Thread):
    """Stamps ``heartbeat_at`` on the version every ``HEARTBEAT_SECONDS`` while it trains, from
    a thread of its own: a long fit that reports no progress still shows it is alive."""

    def __init__(self, version_id: int):
        super().__init__(name=f"heartbeat-v{version_id}", daemon=True)
        self.version_id = version_id
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                ModelVersion.objects.filter(pk=self.version_id).update(heartbeat_at=timezone.now())
        except Exception as error:  # a database hiccup: the reaper's timeout still applies
            logger.warning("heartbeat of version %s stopped: %s", self.version_id, error)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def _plot_history(version: ModelVersion) -> None:
    from ml.history import TrainingHistory

    TrainingHistory(version.history).plot(
        plot_path(version), title=f"{version.scenario} v{version.pk} ({version.algorithm})"
    )


def promotion_decision(version: ModelVersion, current: ModelVersion | None) -> tuple[bool, str]:
    """Whether ``version`` should replace ``current`` under the scenario's rule, and why."""
    config = version.settings or {}
    if version.status != Status.SUCCEEDED:
        return False, f"version is {version.status}, only succeeded versions can be promoted"
    if not config.get("auto_promote", True):
        return False, "auto_promote is off; promote by hand in the admin"
    if current is None:
        return True, "first trained version"
    if version.primary_value is None:
        return False, f"no {version.primary_metric} measured"
    tolerance = float(config.get("promotion_tolerance", 0.0))
    baseline = current.primary_value if current.primary_value is not None else float("-inf")
    metric = version.primary_metric
    if version.primary_value >= baseline - tolerance:
        return True, (
            f"{metric} {version.primary_value:.4f} >= v{current.pk}'s {baseline:.4f} - {tolerance}"
        )
    return (
        False,
        f"{metric} {version.primary_value:.4f} < v{current.pk}'s {baseline:.4f} - {tolerance}",
    )


def maybe_promote(version: ModelVersion) -> bool:
    current = ModelVersion.promoted(version.scenario)
    promote_it, note = promotion_decision(version, current)
    ModelVersion.objects.filter(pk=version.pk).update(promotion_note=note)
    version.promotion_note = note
    if promote_it:
        promote(version, note=note)
    return promote_it


def promote(version: ModelVersion, note: str = "promoted by hand") -> ModelVersion:
    """Make ``version`` the served one; the previous one is retired. Rebuilds cached lists."""
    queue = registry.get(version.scenario).scoring_queue
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if version.status not in (Status.SUCCEEDED, Status.RETIRED, Status.PROMOTED):
            raise ValueError(f"version {version.pk} is {version.status}; it has no model to serve")
        if version.status == Status.PROMOTED:
            return version
        now = timezone.now()
        ModelVersion.objects.filter(scenario=version.scenario, status=Status.PROMOTED).update(
            status=Status.RETIRED, retired_at=now
        )
        version.status = Status.PROMOTED
        version.promoted_at = now
        version.promotion_note = note
        version.save(update_fields=["status", "promoted_at", "promotion_note"])
        transaction.on_commit(lambda: send("engine.score_version", version.pk, queue=queue))
    routes.forget(version.scenario)
    return version


def rollback(slug: str) -> ModelVersion:
    """Serve the version promoted before the current one again; the current one is retired."""
    current = ModelVersion.promoted(slug)
    if current is None:
        raise ValueError(f"scenario {slug!r} has no promoted version to roll back")
    previous = (
        ModelVersion.objects.filter(
            scenario=slug, status=Status.RETIRED, promoted_at__lt=current.promoted_at
        )
        .order_by("-promoted_at")
        .first()
    )
    if previous is None:
        raise ValueError(f"scenario {slug!r} has no earlier promoted version to roll back to")
    return promote(previous, note=f"rollback from v{current.pk}")


def _served_for_scoring(version_id: int) -> ModelVersion | None:
    """The version, while it is promoted or in an active experiment; None otherwise."""
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        return None
    in_experiment = Experiment.objects.filter(is_active=True, scenario=version.scenario).filter(
        Q(control_id=version.pk) | Q(treatment_id=version.pk)
    )
    if version.status != Status.PROMOTED and not in_experiment.exists():
        logger.info("version %s is not served; skipping scoring", version_id)
        return None
    return version


def run_scoring(version_id: int) -> int:
    """Precompute the lists of a served version's active users: split them into shards of the
    scenario's ``scoring_shard_users`` and queue one ``engine.score_shard`` task per shard on the
    scenario's scoring queue, so every worker on it takes a share. Returns the shards queued; a
    no-op for a version that is not served."""
    version = _served_for_scoring(version_id)
    if version is None:
        return 0
    scenario = registry.get(version.scenario)
    users = scenario.users_to_score(version)
    ModelVersion.objects.filter(pk=version.pk).update(scored_users=0)
    size = int(scenario.effective_settings(version.settings)["scoring_shard_users"])
    shards = [users[start : start + size] for start in range(0, len(users), size)]
    version.set_progress(
        0.0 if shards else 1.0, f"scoring {len(users)} users in {len(shards)} shards"
    )
    for shard in shards:
        send("engine.score_shard", version.pk, shard, len(users), queue=scenario.scoring_queue)
    return len(shards)


def score_shard(version_id: int, user_ids: list[str], total: int) -> int:
    """Precompute and store the lists of one shard of ``run_scoring``; returns the lists written.
    A shard delivered again writes the same lists (the count of scored users may then run over
    ``total``, never the lists)."""
    version = _served_for_scoring(version_id)
    if version is None:
        return 0
    scenario = registry.get(version.scenario)
    lists = scenario.score_users(
        version,
        lambda fraction, message: version.set_progress(fraction, f"shard: {message}"),
        user_ids,
    )
    timeout = int(version.settings.get("list_ttl_seconds", 86400)) or None
    store_lists(version.scenario, version.pk, lists, timeout)
    ModelVersion.objects.filter(pk=version.pk).update(scored_users=F("scored_users") + len(lists))
    scored = ModelVersion.objects.values_list("scored_users", flat=True).get(pk=version.pk)
    version.set_progress(min(1.0, scored / max(total, 1)), f"scored {scored} of {total} users")
    return len(lists)


def refresh_lists(user_ids: list[str]) -> int:
    """Recompute the precomputed lists of ``user_ids`` (their events just changed) for every
    served version of every scenario, so their next request reads a fresh list instead of
    computing one. Returns the lists written."""
    written = 0
    for scenario in registry.all_scenarios():
        for version in ModelVersion.objects.filter(pk__in=served_versions(scenario.slug)):
            lists = scenario.score_users(version, lambda *_: None, user_ids=user_ids)
            timeout = int(version.settings.get("list_ttl_seconds", 86400)) or None
            store_lists(scenario.slug, version.pk, lists, timeout)
            written += len(lists)
    return written


# Users whose lists wait for a refresh live in one Redis set, drained by one task at a time:
# a user with many event batches is refreshed once, and however fast events arrive the backlog
# is bounded by the number of distinct users, never a growing queue of tasks.
REFRESH_PENDING = "engine:refresh:pending"
REFRESH_SCHEDULED = "engine:refresh:scheduled"  # held while a drain task is queued or running
REFRESH_BATCH = 500  # users per refresh_lists call
REFRESH_BATCHES_PER_TASK = 20  # then the task hands over, so other scoring work interleaves
REFRESH_LEASE_SECONDS = 300  # a drain task that died frees the schedule after this


def _refresh_store():
    """The raw Redis client and the names of the two keys (with the cache's prefix)."""
    from django.core.cache import cache
    from django_redis import get_redis_connection

    return (
        get_redis_connection("default"),
        cache.make_key(REFRESH_PENDING),
        cache.make_key(REFRESH_SCHEDULED),
    )


def queue_refresh(user_ids: list[str]) -> None:
    """Add ``user_ids`` to the pending set; queue a drain task unless one is already on it.
    With Redis unreachable nothing is queued: the lists it holds are gone or unread, and each
    of these users' next request computes theirs."""
    from redis.exceptions import RedisError

    client, pending, scheduled = _refresh_store()
    try:
        client.sadd(pending, *user_ids)
        claimed = client.set(scheduled, 1, nx=True, ex=REFRESH_LEASE_SECONDS)
    except (OSError, RedisError) as error:
        logger.warning("list refresh of %d users not queued: %s", len(user_ids), error)
        return
    if claimed:
        send("engine.score_pending_users", queue=SCORING)


def drain_refresh_queue() -> int:
    """Refresh pending users' lists, a batch at a time; hand over to a new task if users remain.
    Returns the lists written."""
    client, pending, scheduled = _refresh_store()
    written = 0
    for _ in range(REFRESH_BATCHES_PER_TASK):
        batch = client.spop(pending, REFRESH_BATCH)
        if not batch:
            break
        written += refresh_lists(sorted(user.decode() for user in batch))
    client.delete(scheduled)
    # Users added after the last pop found the schedule held and queued nothing: queue for them.
    if client.scard(pending) and client.set(scheduled, 1, nx=True, ex=REFRESH_LEASE_SECONDS):
        send("engine.score_pending_users", queue=SCORING)
    return written
