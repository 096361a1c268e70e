"""The contract every installed scenario keeps, parametrised over the registry: a scenario app
added under scenarios/ (or by a pip-installed package) is checked here with no new test."""

import pytest
from django import forms

from engine import pipeline, registry
from engine.forms import PREFIX, has_setting_fields, settings_form_for
from engine.models import ScenarioConfig
from engine.scenario import Kind, RecommendationRequest

SCENARIOS = [scenario.slug for scenario in registry.all_scenarios()]


@pytest.fixture(params=SCENARIOS)
def scenario(request):
    return registry.get(request.param)


def test_every_setting_has_a_default_that_validates(scenario):
    properties = scenario.settings_schema.get("properties", {})
    assert set(properties) <= set(scenario.default_settings)
    assert scenario.validate_settings(scenario.effective_settings({})) == []
    assert set(scenario.request_time_settings) <= set(scenario.default_settings)


def test_the_admin_edits_every_setting_in_its_own_field(scenario, db):
    if not has_setting_fields(scenario):
        pytest.skip(f"{scenario.slug}: its schema names no properties (raw JSON in the admin)")
    form = settings_form_for(scenario)(instance=ScenarioConfig.for_slug(scenario.slug))
    names = {name.removeprefix(PREFIX) for name in form.fields if name.startswith(PREFIX)}
    assert names == set(scenario.settings_schema["properties"])
    assert all(isinstance(form.fields[PREFIX + n], forms.Field) for n in names)
    empty = settings_form_for(scenario)(
        data={"slug": scenario.slug}, instance=ScenarioConfig.for_slug(scenario.slug)
    )
    assert empty.is_valid(), empty.errors  # every field empty: the defaults, which validate


def test_an_untrained_scenario_answers_from_its_fallback(scenario, store):
    """Never trained: the answer says it is a fallback and never raises."""
    if scenario.kind != Kind.USER_ITEMS:
        pytest.skip(f"{scenario.slug} is {scenario.kind}: its fallback needs its own request")
    answer = pipeline.recommend(scenario, RecommendationRequest(user_id="p1", n=3), None)
    assert answer.fallback is True and answer.model_version is None
    assert len(answer.items) <= 3


def test_the_generic_endpoint_serves_it_and_refuses_bad_input(scenario, store, read_client):
    if scenario.kind != Kind.USER_ITEMS:
        pytest.skip(f"{scenario.slug} is {scenario.kind}: not a user -> items scenario")
    url = f"/api/v1/scenarios/{scenario.slug}/recommendations"
    body = read_client.get(url, {"user_id": "p1", "n": 3}).json()
    assert body["scenario"] == scenario.slug and body["recommendation_id"]
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)
    for bad in ({"user_id": "p1", "n": 0}, {"n": 3}, {"user_id": "p1", "n": "many"}):
        response = read_client.get(url, bad)
        assert response.status_code == 400, (bad, response.content)
