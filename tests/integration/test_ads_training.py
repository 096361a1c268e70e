"""Ads on real services: the CTR model (DeepFM, a few epochs) trains on the real Celery worker
from the impression log in PostgreSQL, is promoted, writes every user's history row, and
/ads/serve answers from it; a click on that answer is charged and counted in the history."""

import pytest
from django.conf import settings

from engine.models import ModelVersion
from engine.versions import request_training
from scenarios.ads.models import Campaign, UserHistory
from tests.engine.planted import configure, plant_store, reset_engine_state
from tests.scenarios.ads.contract_case import seed_ads

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_the_ctr_model_trains_on_the_worker_and_serves(
    celery_worker, wait_until, read_client, write_client
):
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "tasks must travel through Redis here"
    reset_engine_state()
    plant_store()
    seed_ads()
    configure("ads", model="deepfm", hyperparameters={"epochs": 3}, exploration_share=0.0)
    version = request_training("ads", triggered_by="integration")  # enqueued on commit
    wait_until(
        lambda: ModelVersion.objects.get(pk=version.pk).is_final,
        timeout=180,
        message="ads did not finish training on the worker",
    )
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.PROMOTED, version.error
    assert {"auc", "logloss", "ece"} <= set(version.metrics)
    # seed: p1 saw the three ads and clicked ad-0 (user 0, ad 0)
    history = UserHistory.objects.get(user__external_id="p1")
    assert (history.impressions, history.clicks) == (3, 1)
    assert history.purchases == {"electronics": 1}

    response = read_client.get("/api/v1/ads/serve", {"slot": "home", "user_id": "p1", "n": 3})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == version.pk and not body["fallback"]
    assert [item["position"] for item in body["items"]] == [1, 2, 3]
    # No training row has a past click (the seed's impressions share one timestamp), p1 has
    # one: a column constant in training must not saturate DeepFM.
    assert all(0.01 < item["pctr"] < 0.99 for item in body["items"]), body["items"]
    click = {
        "recommendation_id": body["recommendation_id"],
        "ad_id": body["items"][0]["ad_id"],
        "user_id": "p1",
    }
    charged = write_client.post("/api/v1/ads/click", click, format="json")
    assert charged.status_code == 201 and charged.json()["charged"] > 0
    campaign = Campaign.objects.get(pk=body["items"][0]["campaign_id"])
    assert float(campaign.spent_total) == charged.json()["charged"]
    history.refresh_from_db()
    assert (history.impressions, history.clicks) == (6, 2)
