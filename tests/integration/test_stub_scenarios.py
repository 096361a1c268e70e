"""Scenarios of other kinds on real services: each stub scenario trains on the real worker (the
ads stub on a queue only it declares, which a worker without -Q consumes), is promoted, and
answers in its kind's shape from PostgreSQL."""

import dataclasses

import pytest
from django.conf import settings

from engine import registry
from engine.models import ModelVersion
from engine.scenario import ANSWER_TYPES
from engine.versions import request_training
from tests.engine.contract_cases import CASES
from tests.engine.planted import configure, plant_store, reset_engine_state

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

STUBS = ["stub_ads", "stub_offers", "stub_answers", "stub_people"]


@pytest.mark.parametrize("slug", STUBS)
def test_a_stub_scenario_trains_on_the_worker_and_serves(
    slug, celery_worker, wait_until, read_client
):
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "tasks must travel through Redis here"
    scenario, case = registry.get(slug), CASES[slug]
    if slug == "stub_ads":
        assert scenario.training_queue == "stub_ads"  # declared by the scenario alone
    reset_engine_state()
    plant_store()
    case.seed()
    configure(slug, **case.settings)
    version = request_training(slug, triggered_by="integration")  # enqueued on commit
    wait_until(
        lambda: ModelVersion.objects.get(pk=version.pk).is_final,
        timeout=120,
        message=f"{slug} did not finish training on the worker",
    )
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.PROMOTED, version.error
    response = read_client.get(f"/api/v1/scenarios/{slug}/recommendations", case.query)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == version.pk and body["items"]
    fields = {field.name for field in dataclasses.fields(ANSWER_TYPES[scenario.kind])}
    assert all(set(item) == fields for item in body["items"])
