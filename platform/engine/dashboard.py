"""The admin dashboard: every scenario on one page, as an operator checks a store each morning.

Per scenario: the served version and its held-out metric, the metric of every version (the
settings page's chart), the training queue (running with its progress, queued, the last
failure and its error), the data the served version learnt from, answers, clicks and outcomes
of the last days with their rates (chart), and the scenario's own figures
(``Scenario.dashboard_figures``: spend against budget for ads and coupons).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import Count

from engine import registry
from engine.attribution import scenario_daily
from engine.models import ModelVersion, ScenarioConfig

DAYS = 14
Status = ModelVersion.Status


def first_line(text: str) -> str:
    """The error's message, without its traceback."""
    return next((line for line in text.splitlines() if line.strip()), "")[:300]


def scenario_card(scenario, today: date) -> dict[str, Any]:
    slug = scenario.slug
    versions = ModelVersion.objects.filter(scenario=slug)
    served = versions.filter(status=Status.PROMOTED).order_by("-promoted_at", "-pk").first()
    by_status = dict(versions.values_list("status").annotate(n=Count("pk")))
    failure = versions.filter(status=Status.FAILED).order_by("-finished_at", "-pk").first()
    daily = scenario_daily(slug, today - timedelta(days=DAYS - 1))
    totals = {
        name: sum(day[name] for day in daily.values())
        for name in ("impressions", "clicks", "outcomes")
    }
    config = ScenarioConfig.for_slug(slug)
    return {
        "slug": slug,
        "title": scenario.title,
        "config_pk": config.pk,
        "served": served,
        "learnt_from": ", ".join(
            f"{key} {value}"
            for key, value in ((served.data_snapshot or {}) if served else {}).items()
        ),
        "trainable": scenario.is_trainable(),
        "running": versions.filter(status=Status.RUNNING).order_by("-started_at", "-pk"),
        "queued": by_status.get(Status.QUEUED, 0),
        "failed": by_status.get(Status.FAILED, 0),
        "last_failure": failure,
        "last_failure_message": first_line(failure.error) if failure else "",
        "has_versions_chart": versions.filter(primary_value__isnull=False).exists(),
        "has_activity": bool(daily),
        "totals": totals,
        "rates": (
            f"{totals['clicks'] / totals['impressions']:.1%} clicked, "
            f"{totals['outcomes'] / totals['impressions']:.1%} converted per answer"
            if totals["impressions"]
            else ""
        ),
        "figures": scenario.dashboard_figures(),
    }


def dashboard_cards(today: date) -> list[dict[str, Any]]:
    return [scenario_card(scenario, today) for scenario in registry.all_scenarios()]
