"""The engine's generic endpoints, and each scenario app's own ``api.urlpatterns``."""

from importlib import import_module

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
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
    path(
        "<slug:slug>/experiments",
        api.ExperimentResultsView.as_view(),
        name="scenario-experiments",
    ),
]


# First segments of the catalog's and the engine's own routes under api/v1/. Scenario routes
# are tried first (they are the hottest), so a scenario may not take one of these names.
RESERVED_SLUGS = frozenset({"health", "events", "items", "users", "scenarios"})


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
        if slug in RESERVED_SLUGS:
            raise ImproperlyConfigured(
                f"scenario slug {slug!r} would hide the API's /{slug} routes"
            )
        patterns.append(path(f"api/v1/{slug}/", include((module.urlpatterns, slug))))
    return patterns
