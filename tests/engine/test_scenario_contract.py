"""The contract every installed scenario keeps, parametrised over the registry: the bundled
scenarios and the stubs of tests/stub_scenarios/ (one per kind products does not cover) are
checked here alike. A scenario with no case in contract_cases.py fails the first test."""

import dataclasses

import pytest
from django import forms

from engine import registry
from engine.forms import PREFIX, has_setting_fields, settings_form_for
from engine.ids import require_recommendation_id
from engine.models import ScenarioConfig
from engine.scenario import ANSWER_TYPES
from tests.engine.contract_cases import all_cases
from tests.engine.planted import configure

SCENARIOS = [scenario.slug for scenario in registry.all_scenarios()]
CASES = all_cases()


def test_every_installed_scenario_has_a_case():
    assert set(SCENARIOS) - set(CASES) == set(), "add a case to tests/engine/contract_cases.py"
    assert {registry.get(slug).kind for slug in SCENARIOS} >= set(ANSWER_TYPES) - {
        "item_items",
        "basket_items",  # products serves both through its own endpoints
    }


@pytest.fixture(params=SCENARIOS)
def scenario(request):
    return registry.get(request.param)


@pytest.fixture
def case(scenario):
    return CASES[scenario.slug]


@pytest.fixture
def seeded(scenario, case, store):
    case.seed()
    configure(scenario.slug, **case.settings)


@pytest.fixture
def train(scenario, django_capture_on_commit_callbacks):
    """Train ``scenario`` through the engine (eager Celery), as the admin's "train now"."""
    from engine.versions import request_training

    def train_once():
        with django_capture_on_commit_callbacks(execute=True):
            version = request_training(scenario.slug, triggered_by="test")
        version.refresh_from_db()
        return version

    return train_once


def answer(client, scenario, params):
    return client.get(f"/api/v1/scenarios/{scenario.slug}/recommendations", params)


def assert_kind_shape(scenario, body):
    """The envelope every kind shares, and exactly the item fields of the kind's answer type."""
    assert body["scenario"] == scenario.slug
    require_recommendation_id(scenario.slug, body["recommendation_id"])
    fields = {field.name for field in dataclasses.fields(ANSWER_TYPES[scenario.kind])}
    assert all(set(item) == fields for item in body["items"]), body["items"]


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


def test_an_untrained_scenario_answers_from_its_fallback(scenario, case, seeded, read_client):
    """Never trained: the answer, in its kind's shape, says it is a fallback."""
    response = answer(read_client, scenario, case.query)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["fallback"] is True and body["model_version"] is None
    assert_kind_shape(scenario, body)
    assert len(body["items"]) <= case.query["n"]


def test_the_generic_endpoint_refuses_bad_input_with_a_400(scenario, case, seeded, read_client):
    for bad in case.bad:
        response = answer(read_client, scenario, bad)
        assert response.status_code == 400, (bad, response.content)
        assert response.json(), bad  # a message naming what is wrong


def test_it_trains_promotes_and_serves_the_promoted_version(
    scenario, case, seeded, train, read_client
):
    version = train()
    assert version.status == "promoted", version.error
    assert scenario.primary_metric in version.metrics
    body = answer(read_client, scenario, case.query).json()
    assert body["model_version"] == version.pk and body["fallback"] is False
    assert 0 < len(body["items"]) <= case.query["n"]
    assert_kind_shape(scenario, body)


def test_feedback_on_an_answer_is_attributed_to_its_experiment_arm(
    scenario, case, seeded, train, read_client, write_client
):
    from catalog.models import User
    from engine.attribution import arm_stats
    from engine.models import Experiment

    control = train()
    configure(scenario.slug, promotion_tolerance=1.0)
    treatment = train()
    Experiment.objects.create(
        scenario=scenario.slug, name="contract", control=control, treatment=treatment
    )
    user = User.objects.get(external_id=case.query.get("user_id", "p1"))
    body = answer(read_client, scenario, case.query).json()
    assert body["experiment_arm"] in ("control", "treatment")
    response = case.feedback(write_client, body, user.external_id)
    assert response.status_code in (200, 201), response.content
    stats = arm_stats(scenario.slug, body["model_version"], body["experiment_arm"])
    assert stats["impressions"] >= 1
    assert stats["clicks"] + stats["conversions"] >= 1


def test_deleting_a_user_removes_every_row_the_scenario_keeps_of_them(
    scenario, case, seeded, train, read_client, write_client
):
    from django.apps import apps

    from catalog.models import User
    from engine.apps import ScenarioAppConfig

    train()
    app = next(
        config
        for config in apps.get_app_configs()
        if isinstance(config, ScenarioAppConfig) and config.scenario.slug == scenario.slug
    )
    user = User.objects.get(external_id=case.query.get("user_id", "p1"))
    body = answer(read_client, scenario, case.query).json()
    assert case.feedback(write_client, body, user.external_id).status_code in (200, 201)
    owned = [
        (model, field.name)
        for model in app.get_models()
        for field in model._meta.get_fields()
        if field.is_relation and field.many_to_one and field.related_model is User
    ]
    assert owned or scenario.slug == "products", f"{scenario.slug} keeps no rows of a user"

    def rows():
        return sum(model.objects.filter(**{name: user}).count() for model, name in owned)

    assert rows() > 0 or scenario.slug == "products"
    exported = read_client.get(f"/api/v1/users/{user.external_id}/export")
    assert exported.status_code == 200, exported.content
    tables = exported.json()["tables"]
    for model, name in owned:  # the export lists every row the scenario keeps of them
        held = model.objects.filter(**{name: user}).count()
        listed = [
            row for row in tables.get(model._meta.label_lower, []) if row[name] == user.external_id
        ]
        assert len(listed) == held, (model._meta.label_lower, name)
    assert tables["catalog.interaction"]  # and their events
    response = write_client.delete(f"/api/v1/users/{user.external_id}")
    assert response.status_code in (200, 204), response.content
    assert rows() == 0
    assert read_client.get(f"/api/v1/users/{user.external_id}/export").status_code == 404


def test_the_openapi_schema_shows_each_kinds_answer(scenario, db):
    from drf_spectacular.generators import SchemaGenerator

    from engine.kinds import ANSWERS

    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    name = type(ANSWERS[scenario.kind]).__name__
    assert name in components
