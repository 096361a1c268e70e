"""Feedback attributed to the answers that caused it, per model version and experiment arm.

An event counts when it quotes a recommendation id of that version and arm (see
:mod:`engine.ids`) and its type is one of the scenario's ``click_events`` or ``outcome_events``,
read from the scenario's ``feedback_events()`` (the catalog's interactions unless the scenario
keeps its feedback in its own tables).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from engine import registry
from engine.ids import attribution_prefix
from engine.impressions import pending_impressions
from engine.models import ImpressionCount


def _attributed(slug: str, version_id: int | None, arm: str):
    scenario = registry.get(slug)
    events = scenario.feedback_events().filter(
        recommendation_id__startswith=attribution_prefix(slug, version_id, arm)
    )
    return scenario, events


def arm_stats(slug: str, version_id: int | None, arm: str) -> dict[str, Any]:
    """Impressions, clicks, conversions and CTR of responses from one version and arm."""
    stored = ImpressionCount.objects.filter(
        scenario=slug, model_version_id=version_id, arm=arm
    ).aggregate(total=Sum("count"))["total"]
    impressions = int(stored or 0) + pending_impressions(slug, version_id, arm)
    scenario, events = _attributed(slug, version_id, arm)
    clicked = Q(event_type__in=scenario.click_events)
    converted = Q(event_type__in=scenario.outcome_events)
    counts = events.aggregate(
        clicks=Count("recommendation_id", filter=clicked),
        conversions=Count("recommendation_id", filter=converted),
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
    impressions = dict(
        ImpressionCount.objects.filter(scenario=slug, model_version_id=version_id, arm=arm)
        .values_list("day")
        .annotate(total=Sum("count"))
    )
    scenario, events = _attributed(slug, version_id, arm)
    clicked = dict(
        events.filter(event_type__in=scenario.click_events)
        .annotate(day=TruncDate("timestamp"))
        .values_list("day")
        .annotate(responses=Count("recommendation_id", distinct=True))
    )
    return {
        day: (int(impressions.get(day, 0)), int(clicked.get(day, 0)))
        for day in sorted(set(impressions) | set(clicked))
    }


def scenario_daily(slug: str, since) -> dict[Any, dict[str, int]]:
    """Per day (UTC) from ``since`` (a date), over every version and arm of one scenario:
    answers served (impressions), clicks and outcomes attributed to them."""
    impressions = dict(
        ImpressionCount.objects.filter(scenario=slug, day__gte=since)
        .values_list("day")
        .annotate(total=Sum("count"))
    )
    scenario = registry.get(slug)
    events = (
        scenario.feedback_events()
        .filter(recommendation_id__startswith=f"{slug}.", timestamp__date__gte=since)
        .annotate(day=TruncDate("timestamp"))
        .values("day")
        .annotate(
            clicks=Count("recommendation_id", filter=Q(event_type__in=scenario.click_events)),
            outcomes=Count("recommendation_id", filter=Q(event_type__in=scenario.outcome_events)),
        )
    )
    feedback = {row["day"]: row for row in events}
    return {
        day: {
            "impressions": int(impressions.get(day, 0)),
            "clicks": int(feedback.get(day, {}).get("clicks", 0)),
            "outcomes": int(feedback.get(day, {}).get("outcomes", 0)),
        }
        for day in sorted(set(impressions) | set(feedback))
    }
