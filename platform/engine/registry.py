"""The process-wide registry of scenarios, filled by each scenario app's ``ready()``."""

from __future__ import annotations

from engine.scenario import Scenario

_SCENARIOS: dict[str, Scenario] = {}


class UnknownScenario(LookupError):
    pass


def register(scenario: Scenario) -> Scenario:
    """Register a scenario instance under its slug; a second, different class is an error."""
    if not scenario.slug or not scenario.slug.replace("_", "").isalnum():
        raise ValueError(f"scenario slug must be a non-empty identifier, got {scenario.slug!r}")
    existing = _SCENARIOS.get(scenario.slug)
    if existing is not None and type(existing) is not type(scenario):
        raise ValueError(
            f"scenario {scenario.slug!r} is already registered by {type(existing).__qualname__}"
        )
    errors = scenario.validate_settings(scenario.default_settings)
    if errors:
        raise ValueError(f"scenario {scenario.slug!r} has invalid default settings: {errors}")
    _SCENARIOS[scenario.slug] = scenario
    return scenario


def get(slug: str) -> Scenario:
    try:
        return _SCENARIOS[slug]
    except KeyError:
        known = ", ".join(sorted(_SCENARIOS)) or "none"
        raise UnknownScenario(f"unknown scenario {slug!r}; registered: {known}") from None


def all_scenarios() -> list[Scenario]:
    return [_SCENARIOS[slug] for slug in sorted(_SCENARIOS)]
