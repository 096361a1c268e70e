"""The FAQ on PostgreSQL, Redis and a real Celery worker: the demo FAQ trains on the worker, the
API answers from what it trained in both languages, feedback is recorded and attributed, and
editing an entry retrains on the worker (the signal's task travels through the broker)."""

import io

import numpy as np
import pytest

from engine.attribution import arm_stats
from engine.models import ModelVersion
from scenarios.faq.demo import seed
from scenarios.faq.demo_data import held_out_queries
from scenarios.faq.models import FaqEntry, QueryLog
from tests.engine.planted import configure, plant_store, reset_engine_state

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def finished(wait_until, version_id: int) -> ModelVersion:
    wait_until(
        lambda: ModelVersion.objects.get(pk=version_id).is_final,
        timeout=180,
        message="faq did not finish training on the worker",
    )
    version = ModelVersion.objects.get(pk=version_id)
    assert version.status == ModelVersion.Status.PROMOTED, version.error
    return version


def test_the_faq_trains_on_the_worker_answers_and_records_feedback(
    celery_worker, wait_until, read_client, write_client
):
    reset_engine_state()
    plant_store()  # the catalog users p1.. that answers and feedback link to
    configure("faq", model="hybrid")
    seed(rng=np.random.default_rng(0), stdout=io.StringIO(), scale=1.0)
    first = finished(wait_until, ModelVersion.objects.get(scenario="faq").pk)
    assert first.data_snapshot["by_language"] == {"en": 43, "zh": 43}

    right = []
    for query, key in held_out_queries():
        response = read_client.post("/api/v1/faq/answer", {"query": query, "user_id": "p1"}, "json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["model_version"] == first.pk and body["fallback"] is False
        right.append(bool(body["answers"]) and body["answers"][0]["faq_id"] == key)
    assert np.mean(right) > 0.6  # both languages: 0.70 on the embedded default

    body = read_client.post(
        "/api/v1/faq/answer", {"query": "我想退货", "user_id": "p1"}, "json"
    ).json()
    assert body["answers"][0]["faq_id"] == "zh-return-how" and body["language"] == "zh"
    rated = write_client.post(
        "/api/v1/faq/feedback",
        {"recommendation_id": body["recommendation_id"], "helpful": True},
        "json",
    )
    assert rated.status_code == 200, rated.content
    log = QueryLog.objects.get(recommendation_id=body["recommendation_id"])
    assert log.helpful is True and log.user.external_id == "p1"
    assert log.chosen_entry.key == "zh-return-how"
    assert arm_stats("faq", first.pk, "")["conversions"] == 1

    # an operator edits an entry: the signal queues a training, which the worker runs
    entry = FaqEntry.objects.get(key="en-pay-methods")
    entry.paraphrases = [*entry.paraphrases, "do you accept PayPal or Apple Pay"]
    entry.save()
    second = ModelVersion.objects.filter(scenario="faq").exclude(pk=first.pk).get()
    assert second.triggered_by == "faq entries changed"
    finished(wait_until, second.pk)
    body = read_client.post(
        "/api/v1/faq/answer", {"query": "PayPal accepted?", "user_id": "p2"}, "json"
    ).json()
    assert body["model_version"] == second.pk
    assert body["answers"][0]["faq_id"] == "en-pay-methods"
