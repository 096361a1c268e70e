"""Retrain schedules as django-celery-beat periodic tasks, kept in step with scenario settings.

The schedule string in a scenario's settings is the source of truth when it is saved; the beat
PeriodicTask it writes stays editable in the admin (enable, pause, run-once) like any other.
"""

from __future__ import annotations

import json

from django_celery_beat.models import CrontabSchedule, PeriodicTask


def task_name(slug: str) -> str:
    return f"retrain {slug}"


def sync_schedule(slug: str, expression: str) -> PeriodicTask | None:
    """Create, update or disable the periodic ``engine.train_scenario`` task of ``slug``."""
    existing = PeriodicTask.objects.filter(name=task_name(slug)).first()
    if not expression.strip():
        if existing is not None and existing.enabled:
            existing.enabled = False
            existing.save()
        return existing
    minute, hour, day, month, weekday = expression.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday
    )
    task = existing or PeriodicTask(name=task_name(slug))
    task.task = "engine.train_scenario"
    task.crontab = schedule
    task.interval = None
    task.args = json.dumps([slug])
    task.kwargs = json.dumps({"triggered_by": "schedule"})
    task.enabled = True
    task.save()
    return task
