"""Test settings: config.settings with the stub scenarios (tests/stub_scenarios/) enabled, as
an operator enables a scenario: listed in RECO_SCENARIOS, INSTALLED_APPS recomputed from it.

Only this process sees the stubs: nothing is written to os.environ, so child processes started
with DJANGO_SETTINGS_MODULE=config.settings install exactly what an operator's would.
"""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS, RECO_SCENARIOS
from engine.plugins import scenario_apps

STUB_SCENARIOS = [
    f"tests.stub_scenarios.{name}"
    for name in ("stub_ads", "stub_offers", "stub_answers", "stub_people")
]

_core_apps = [app for app in INSTALLED_APPS if app not in scenario_apps(RECO_SCENARIOS)]
RECO_SCENARIOS = [*RECO_SCENARIOS, *STUB_SCENARIOS]
INSTALLED_APPS = [*_core_apps, *scenario_apps(RECO_SCENARIOS)]
