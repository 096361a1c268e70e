"""A Celery worker killed (SIGKILL) in the middle of a training: nothing it wrote is promoted,
the served version is unchanged, and the reaper marks the run failed once its heartbeat stops."""

import os
import signal
import time

import pytest

from engine import versions
from engine.models import ModelVersion
from engine.queues import send
from tests.engine.planted import configure, plant_store, reset_engine_state
from tests.integration.conftest import start_worker, wait_for_ping

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

Status = ModelVersion.Status


def served(client) -> int:
    response = client.get("/api/v1/products/recommendations", {"user_id": "p1", "n": 3})
    assert response.status_code == 200, response.content
    return response.json()["model_version"]


@pytest.fixture
def own_worker(integration_services, tmp_path, monkeypatch):
    """A worker of this test's own, alone on its queue; trainings are sent there."""
    queue = f"faults-{os.getpid()}"
    worker = start_worker(integration_services, tmp_path / "worker.log", queue=queue)
    monkeypatch.setattr(
        versions, "send", lambda name, *args, queue=None: send(name, *args, queue=worker.queue)
    )
    worker.queue = queue
    try:
        wait_for_ping(worker, timeout=180)
        yield worker
    finally:
        if worker.process.poll() is None:
            worker.process.kill()
        worker.process.wait()


def test_a_worker_killed_mid_training_leaves_the_served_version_and_is_reaped(
    own_worker, wait_until, read_client, monkeypatch
):
    reset_engine_state()
    plant_store()
    configure("products", model="itemknn", model_search=False)
    first = versions.request_training("products", triggered_by="integration")
    wait_until(
        lambda: ModelVersion.objects.get(pk=first.pk).status == Status.PROMOTED,
        timeout=180,
        message=f"the first version did not train on the worker:\n{own_worker.log_tail()}",
    )
    assert served(read_client) == first.pk

    # a long training (TensorFlow BPR, thousands of epochs), killed once it runs
    configure("products", model="bpr", hyperparameters={"epochs": 5000}, model_search=False)
    doomed = versions.request_training("products", triggered_by="integration")
    wait_until(
        lambda: ModelVersion.objects.get(pk=doomed.pk).status == Status.RUNNING,
        timeout=120,
        message=f"the worker never started the training:\n{own_worker.log_tail()}",
    )
    time.sleep(2)
    os.kill(own_worker.process.pid, signal.SIGKILL)
    own_worker.process.wait(timeout=30)

    doomed.refresh_from_db()
    assert doomed.status == Status.RUNNING and doomed.worker.startswith("integration-faults")
    assert ModelVersion.promoted("products").pk == first.pk
    assert served(read_client) == first.pk

    monkeypatch.setattr(versions, "HEARTBEAT_LOST_SECONDS", 1)  # the reaper, minutes later
    time.sleep(1.5)
    assert versions.reap_stale_runs() == 1
    doomed.refresh_from_db()
    assert doomed.status == Status.FAILED and doomed.worker in doomed.error
    assert not versions.artifact_dir(doomed).exists()
    assert ModelVersion.promoted("products").pk == first.pk
    assert served(read_client) == first.pk
