"""Which scenario apps to install: the enabled list from settings plus pip-installed plugins.

Imported by settings before Django is set up, so it touches nothing but the standard library. A
pip-installed package adds a scenario with an entry point in the group below whose value is the
dotted path of its AppConfig (or app module), e.g. ``tiny = "tiny_scenario.apps.TinyConfig"``.
"""

from importlib.metadata import entry_points
from pathlib import Path

ENTRY_POINT_GROUP = "recoplatform.scenarios"


def plugin_apps() -> list[str]:
    """App paths declared by installed distributions, sorted by entry-point name for stability."""
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda point: point.name)
    return [point.value for point in found]


def scenario_apps(enabled: list[str]) -> list[str]:
    """Enabled scenario apps first, then plugins not already listed; no duplicates."""
    apps: list[str] = []
    for app in [*enabled, *plugin_apps()]:
        if app not in apps:
            apps.append(app)
    return apps


def bundled_scenarios(folder: Path) -> list[str]:
    """``scenarios.<name>`` for every app folder (one with an ``apps.py``) under ``folder``."""
    return sorted(
        f"{folder.name}.{app.name}" for app in folder.iterdir() if (app / "apps.py").is_file()
    )
