"""Validation of scenario settings against their JSON Schema, with messages an operator can act on."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator


def schema_errors(schema: dict[str, Any], settings: Any) -> list[str]:
    """One ``"path: message"`` per violation, sorted so the admin shows them in a stable order."""
    validator = Draft202012Validator(schema)
    messages = []
    for error in validator.iter_errors(settings):
        where = ".".join(str(part) for part in error.absolute_path) or "settings"
        messages.append(f"{where}: {error.message}")
    return sorted(messages)


def validate_cron(expression: str) -> str | None:
    """None if ``expression`` is a 5-field crontab (minute hour day month weekday), else why not."""
    from celery.schedules import crontab

    fields = expression.split()
    if len(fields) != 5:
        return f"retrain_schedule: {expression!r} needs 5 fields (minute hour day month weekday)"
    minute, hour, day, month, weekday = fields
    try:
        crontab(
            minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday
        )
    except (ValueError, TypeError) as error:
        return f"retrain_schedule: {expression!r} is not a valid crontab ({error})"
    return None
