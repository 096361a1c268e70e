"""The engine's generic endpoints, and each scenario app's own ``api.urlpatterns``."""

from importlib import import_module

from django.apps import apps
from django.urls import include, path

from engine import api, registry
from engine.apps import ScenarioAppConfig

urlpatterns = [
    path("", api.ScenarioListView.as_view(), name="scenario-list"),
    path(
        "<slug:slug>/recommendations",
        api.GenericRecommendationsView.as_view(),
        name="scenario-recommendations",
    ),
]


def scenario_urlpatterns() -> list:
    """``api/v1/<slug>/`` for every installed scenario app that has an ``api`` module."""
    patterns = []
    for config in apps.get_app_configs():
        if not isinstance(config, ScenarioAppConfig):
            continue
        try:
            module = import_module(f"{config.name}.api")
        except ModuleNotFoundError as error:
            if error.name != f"{config.name}.api":
                raise
            continue
        slug = registry.get(config.scenario.slug).slug
        patterns.append(path(f"api/v1/{slug}/", include((module.urlpatterns, slug))))
    return patterns
