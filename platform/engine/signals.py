"""Receivers that keep derived data in step with the catalog and the scenario settings."""

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from catalog.signals import events_ingested, user_erased
from engine import registry
from engine.freshness import bump_freshness, clear_freshness
from engine.lists import drop_lists_of
from engine.models import ModelVersion, ScenarioConfig
from engine.routing import routes, served_versions
from engine.schedules import sync_schedule
from engine.versions import queue_refresh


@receiver(post_save, sender=ScenarioConfig)
def keep_schedule_in_step(sender, instance: ScenarioConfig, **kwargs):
    sync_schedule(instance.slug, str(instance.effective().get("retrain_schedule", "")))
    routes.forget(instance.slug)  # this process serves with the new settings at once


@receiver(user_erased)
def drop_lists_of_erased_user(sender, user_id: str, **kwargs):
    """Privacy: a precomputed list is derived from the user's interactions, so it goes too."""
    served = ModelVersion.objects.filter(
        status__in=[ModelVersion.Status.PROMOTED, ModelVersion.Status.SUCCEEDED]
    ).values_list("scenario", "pk")
    known = {scenario.slug for scenario in registry.all_scenarios()}
    drop_lists_of(user_id, [(slug, pk) for slug, pk in served if slug in known])
    clear_freshness(user_id)


@receiver(events_ingested)
def mark_lists_stale_after_new_events(sender, user_ids: list[str], **kwargs):
    """After the commit, so a list computed from the old events never carries the new stamp.

    With Redis and real workers, the scoring queue then recomputes those users' lists, so their
    next request usually finds one ready (``ENGINE_REFRESH_LISTS_ON_EVENTS``). In-process (eager
    tasks, per-process cache) the next request recomputes it anyway, so nothing is queued.
    """
    bump_freshness(user_ids)
    queued = settings.ENGINE_REFRESH_LISTS_ON_EVENTS and not settings.CELERY_TASK_ALWAYS_EAGER
    if not (queued and settings.REDIS_URL and user_ids):
        return
    if any(served_versions(scenario.slug) for scenario in registry.all_scenarios()):
        queue_refresh(user_ids)


def ensure_configs(**kwargs) -> None:
    """After migrate: one settings row per registered scenario (editable in the admin), the
    periodic flush of impression counters into the database and the stale-run reaper."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    for scenario in registry.all_scenarios():
        if not ScenarioConfig.objects.filter(slug=scenario.slug).exists():
            ScenarioConfig(slug=scenario.slug, settings={}).save()
    every_minute, _ = IntervalSchedule.objects.get_or_create(
        every=60, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.get_or_create(
        name="flush impression counters",
        defaults={"task": "engine.flush_impressions", "interval": every_minute},
    )
    every_ten_minutes, _ = IntervalSchedule.objects.get_or_create(
        every=600, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.get_or_create(
        name="fail training runs whose worker died",
        defaults={"task": "engine.reap_stale_versions", "interval": every_ten_minutes},
    )
