"""Content on real services: the TF encoder trains on the real worker from PostgreSQL, gunicorn
(two processes, Redis cache) serves the feed; a read posted to one process leaves that article
out of the next feed from either, an article upserted through the API is related to its
product at once (encoded from its text, no retraining), and deleting the reader removes the
feeds they were shown."""

import httpx
import pytest
from django.conf import settings

from catalog.models import ApiKey
from engine.models import ModelVersion
from engine.versions import request_training
from scenarios.content.models import FeedExposure
from tests.engine.planted import configure, plant_store, reset_engine_state
from tests.scenarios.content.contract_case import TEXTS, seed_articles

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["item_id"] for item in response.json()["items"]]


def test_the_content_loop_on_the_worker_and_gunicorn(celery_worker, wait_until, api_server):
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "tasks must travel through Redis here"
    reset_engine_state()
    plant_store()
    seed_articles()
    configure("content", text_encoder="tf", hyperparameters={"dim": 8, "epochs": 2})
    version = request_training("content", triggered_by="integration")  # enqueued on commit
    wait_until(
        lambda: ModelVersion.objects.get(pk=version.pk).is_final,
        timeout=180,
        message="content did not finish training on the worker",
    )
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.PROMOTED, version.error
    assert len(version.history["loss"]) == 2  # TensorFlow ran on the worker

    _, raw_key = ApiKey.create_key("integration", ["read", "write"])
    headers = {"Authorization": f"Api-Key {raw_key}"}
    with httpx.Client(base_url=api_server, headers=headers, timeout=30) as client:
        # Each process reads the promoted version at most every few seconds (engine.routing):
        # a worker that booted while training ran serves the new version within that.
        feed = wait_until(
            lambda: (
                (
                    answer := client.get("/api/v1/content/feed", params={"user_id": "p1", "n": 5})
                ).json()["model_version"]
                == version.pk
                and answer
            ),
            timeout=15,
            message="gunicorn did not serve the promoted content version",
        )
        first = ids(feed)[0]
        assert first.startswith("phone-guide")
        event = {"user_id": "p1", "item_id": first, "type": "read", "value": 80.0}
        assert client.post("/api/v1/events", json={"events": [event]}).status_code in (200, 201)
        for _ in range(4):  # the two gunicorn processes answer in turn
            assert first not in ids(client.get("/api/v1/content/feed", params={"user_id": "p1"}))

        article = {
            "item_id": "phone-guide-fresh",
            "title": "Phone model 6: the long review",
            "text": TEXTS["phone"],
            "products": ["phone-6"],
            "format": "review",
        }
        response = client.post("/api/v1/content/articles", json={"articles": [article]})
        assert response.json() == {"created": 1, "updated": 0}

        def related_reasons():
            response = client.get("/api/v1/content/related", params={"item_id": "phone-6", "n": 3})
            assert response.status_code == 200, response.content
            return {item["item_id"]: item["reason"] for item in response.json()["items"]}

        # phone-6 now has two articles of its own (the seeded guide and this review): both
        # come first, from either process (eight answers in a row), within the catalog refresh
        wait_until(
            lambda: all("phone-guide-fresh" in list(related_reasons())[:2] for _ in range(8)),
            timeout=30,
            message="the new article never became related to its product",
        )
        reasons = related_reasons()
        assert reasons["phone-guide-fresh"] == "a review of Phone model 6"
        assert reasons["phone-guide-6"] == "a buying guide for Phone model 6"
        bad = client.get("/api/v1/content/related", params={"item_id": "nothing-here"})
        assert bad.status_code == 400 and "nothing-here" in bad.json()["detail"]

        assert FeedExposure.objects.filter(user__external_id="p1").count() >= 5
        assert client.delete("/api/v1/users/p1").status_code in (200, 204)
        assert not FeedExposure.objects.filter(user__external_id="p1").exists()
