"""Celery tasks of the engine: they take ids, are idempotent, and retry transient failures.

Whoever enqueues one names its queue (:func:`engine.queues.send`: a scenario's training and
scoring runs go to the queues the scenario declares); the rest run on ``default``. A repeated
delivery of ``train_version`` finds the version no longer queued and does nothing;
``score_version`` and ``score_shard`` skip a version that is no longer served.
"""

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from engine import impressions, versions

RETRY = {
    "autoretry_for": (DatabaseError, ConnectionError),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 3,
}


@shared_task(
    name="engine.train_version",
    acks_late=True,
    soft_time_limit=settings.ENGINE_TRAINING_TIMEOUT_SECONDS,
    **RETRY,
)
def train_version(version_id: int) -> str:
    worker = "" if train_version.request.is_eager else (train_version.request.hostname or "")
    version = versions.run_training(version_id, worker=worker)
    return "skipped" if version is None else version.status


@shared_task(name="engine.train_scenario", **RETRY)
def train_scenario(slug: str, triggered_by: str = "schedule") -> int:
    """Entry point of the beat schedules: queue a fresh version of ``slug``."""
    return versions.request_training(slug, triggered_by=triggered_by).pk


@shared_task(name="engine.score_version", acks_late=True, **RETRY)
def score_version(version_id: int) -> int:
    return versions.run_scoring(version_id)


@shared_task(name="engine.score_shard", acks_late=True, **RETRY)
def score_shard(version_id: int, user_ids: list[str], total: int) -> int:
    return versions.score_shard(version_id, user_ids, total)


@shared_task(name="engine.score_pending_users", acks_late=True, **RETRY)
def refresh_pending_lists() -> int:
    """Refresh the lists of users with new events (idempotent: a repeat finds fewer pending)."""
    return versions.drain_refresh_queue()


@shared_task(name="engine.flush_impressions", **RETRY)
def flush_impressions() -> int:
    return impressions.flush_impressions()


@shared_task(name="engine.reap_stale_versions", **RETRY)
def reap_stale_versions() -> int:
    return versions.reap_stale_runs()
