"""The serving entry point: route a request to a version, run the pipeline, stamp the answer.

The API process holds no state another process needs: routes come from the database
(:mod:`engine.routing`), precomputed lists and impression counters from the cache, and what is
loaded per process (artifacts, catalog snapshots, kept answers) is rebuilt from those.
"""

from __future__ import annotations

from typing import Any

from engine import pipeline, registry
from engine.ids import new_recommendation_id
from engine.impressions import count_impression
from engine.routing import route_for, served_versions
from engine.scenario import RecommendationRequest


def serve(slug: str, request: RecommendationRequest) -> dict[str, Any]:
    """Route, answer, stamp a recommendation id, count the exposure and let the scenario record
    it."""
    scenario = registry.get(slug)
    route = route_for(slug, request.user_id)
    answer = pipeline.recommend(scenario, request, route.version_id)
    recommendation_id = new_recommendation_id(slug, answer.model_version, route.arm)
    count_impression(slug, answer.model_version, route.arm)
    scenario.record_exposure(request, answer, recommendation_id)
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


def warm_up() -> list[str]:
    """Load every scenario's serving versions (promoted, and both arms of a running experiment)
    in this process; run by each server worker before it takes requests. Returns what loaded."""
    loaded = []
    for scenario in registry.all_scenarios():
        for version_id in served_versions(scenario.slug):
            pipeline.warm_up(scenario, version_id)
            loaded.append(f"{scenario.slug} v{version_id}")
    return loaded
