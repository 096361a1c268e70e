"""Social on PostgreSQL, Redis and a real Celery worker: the scenario trains on the worker and
serves its lists; a follow through the API changes the next answer; 24 clients posting the same
follow at once leave one row (one 201, the rest 200)."""

import threading

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from catalog.models import ApiKey
from engine.models import ModelVersion
from engine.versions import request_training
from scenarios.social.models import Follow
from tests.engine.planted import configure, plant_store, reset_engine_state
from tests.scenarios.social.contract_case import FAST, seed_rings

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CLIENTS = 24


def shown(client, user_id="p1"):
    response = client.get("/api/v1/social/suggestions", {"user_id": user_id, "n": 5})
    assert response.status_code == 200, response.content
    return response.json()


def test_it_trains_on_the_worker_and_a_follow_changes_the_next_answer(
    celery_worker, wait_until, read_client, write_client
):
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "tasks must travel through Redis here"
    reset_engine_state()
    plant_store()
    seed_rings()
    configure("social", **FAST)
    version = request_training("social", triggered_by="integration")
    wait_until(
        lambda: ModelVersion.objects.get(pk=version.pk).is_final,
        timeout=180,
        message="social did not finish training on the worker",
    )
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.PROMOTED, version.error
    body = shown(read_client)
    assert body["model_version"] == version.pk and body["fallback"] is False
    first = body["items"][0]
    assert "mutual follow" in first["reason"] or "follows you" in first["reason"]
    response = write_client.post(
        "/api/v1/social/follows",
        {
            "follower_id": "p1",
            "followee_id": first["user_id"],
            "recommendation_id": body["recommendation_id"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert first["user_id"] not in [item["user_id"] for item in shown(read_client)["items"]]


def test_parallel_duplicate_follows_leave_one_row():
    reset_engine_state()
    plant_store()
    _, raw_key = ApiKey.create_key("race", scopes=("read", "write"))
    start = threading.Barrier(CLIENTS)
    statuses = [0] * CLIENTS

    def client_thread(index: int):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        try:
            start.wait()
            statuses[index] = client.post(
                "/api/v1/social/follows",
                {"follower_id": "p1", "followee_id": "b1"},
                format="json",
            ).status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] * (CLIENTS - 1) + [201]
    assert (
        Follow.objects.filter(follower__external_id="p1", followee__external_id="b1").count() == 1
    )
