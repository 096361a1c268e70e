"""Redis (the cache) goes away while every scenario serves: each still answers, from the
database or computed on request; health reports the cache down; feedback sent during the outage
and again after it is charged once."""

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test.utils import override_settings

from engine import registry
from engine.models import ModelVersion
from engine.versions import request_training, run_training
from tests.engine.contract_cases import all_cases
from tests.engine.planted import configure, plant_store, reset_engine_state
from tests.integration.outage import Outage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SCENARIOS = [scenario.slug for scenario in registry.all_scenarios()]
CASES = all_cases()


@pytest.fixture
def cache_outage(integration_services):
    """This process's cache, routed through an :class:`Outage` in front of the session's Redis."""
    parts = urlsplit(integration_services.cache_url)
    outage = Outage(parts.hostname, parts.port or 6379)
    location = f"redis://127.0.0.1:{outage.port}{parts.path}"
    caches = {"default": {**settings.CACHES["default"], "LOCATION": location}}
    with override_settings(CACHES=caches):
        reset_engine_state()
        yield outage
    outage.close()
    reset_engine_state()


def answer(client, slug: str):
    return client.get(f"/api/v1/scenarios/{slug}/recommendations", CASES[slug].query)


@pytest.fixture
def trained(cache_outage, wait_until):
    """Every installed scenario seeded and trained on the planted store."""
    plant_store()
    versions = {}
    for slug in SCENARIOS:
        CASES[slug].seed()
        configure(slug, **CASES[slug].settings)
        version = request_training(slug, triggered_by="integration")
        run_training(version.pk)  # here, or on a session worker that took it first
        versions[slug] = wait_until(
            lambda pk=version.pk: ModelVersion.objects.filter(pk=pk, status="promoted").first(),
            timeout=180,
            message=f"{slug} was not promoted",
        )
    return versions


def test_every_scenario_answers_while_the_cache_is_down(
    trained, cache_outage, read_client, write_client, api_client
):
    for slug in SCENARIOS:  # warm: lists and memos in the cache
        assert answer(read_client, slug).status_code == 200, slug
    assert api_client.get("/api/v1/health").status_code == 200

    cache_outage.cut()
    health = api_client.get("/api/v1/health")
    assert health.status_code == 503
    assert health.json()["components"]["cache"]["status"] == "down"
    assert health.json()["components"]["database"]["status"] == "up"
    during = {}
    for slug in SCENARIOS:
        response = answer(read_client, slug)
        assert response.status_code == 200, (slug, response.content)
        body = response.json()
        assert body["model_version"] == trained[slug].pk and body["items"], (slug, body)
        feedback = CASES[slug].feedback(write_client, body, CASES[slug].query.get("user_id", "p1"))
        assert feedback.status_code in (200, 201), (slug, feedback.content)
        during[slug] = body

    cache_outage.restore()
    assert api_client.get("/api/v1/health").status_code == 200
    for slug, body in during.items():  # a client retrying what it sent during the outage
        user_id = CASES[slug].query.get("user_id", "p1")
        assert CASES[slug].feedback(write_client, body, user_id).status_code in (200, 201), slug
        assert answer(read_client, slug).status_code == 200, slug

    from scenarios.ads.models import Campaign, Click

    ad = during["ads"]["items"][0]
    clicks = Click.objects.filter(recommendation_id=during["ads"]["recommendation_id"])
    assert clicks.count() == 1  # sent twice, charged once
    campaign = Campaign.objects.get(pk=clicks.get().ad.campaign_id)
    assert float(campaign.spent_total) == pytest.approx(float(ad["price"]))
