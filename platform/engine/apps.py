"""The engine app, and the AppConfig base class every scenario app extends."""

from __future__ import annotations

from importlib import import_module
from typing import Any, ClassVar

from django.apps import AppConfig
from django.utils.module_loading import import_string, module_has_submodule


class EngineConfig(AppConfig):
    default = True
    name = "engine"
    verbose_name = "Recommendation engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from catalog import health
        from engine import signals, tasks  # noqa: F401  (tasks: registered for queues.send)

        post_migrate.connect(signals.ensure_configs, sender=self)
        health.CHECKS["models"] = check_models


def check_models() -> str:
    """The versions this process could not load lately, and what serves in their place."""
    from catalog.health import Degraded
    from engine.pipeline import states

    unreadable = states.unreadable()
    if not unreadable:
        return "every version this process was asked for loaded"
    problems = []
    for (slug, version_id), reason in sorted(unreadable.items()):
        problem = f"{slug} v{version_id} artifact unreadable ({reason})"
        if (slug, version_id) in states.stand_ins:
            stand_in = states.stand_ins[(slug, version_id)][0]
            problem += f"; serving v{stand_in}" if stand_in else "; serving the fallback"
        problems.append(problem)
    raise Degraded("; ".join(problems))


class ScenarioAppConfig(AppConfig):
    """A scenario plugin declares itself here and is registered when Django starts.

    Subclasses set ``scenario_class`` (dotted path or class). Slug, title, version, default
    settings, item kinds, feedback events and queues are read from the Scenario class so there
    is one place to change them; ``api.py`` (with ``urlpatterns``), ``tasks.py`` and ``admin.py``
    are found by file name (``tasks.py`` is imported here, so its tasks can be sent by name).
    """

    scenario_class: ClassVar[str | type] = ""
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from engine import registry

        target: Any = self.scenario_class
        if isinstance(target, str):
            target = import_string(target)
        self.scenario = registry.register(target())
        if module_has_submodule(self.module, "tasks"):
            import_module(f"{self.name}.tasks")
