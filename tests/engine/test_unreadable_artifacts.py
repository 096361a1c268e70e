"""A model artifact deleted or corrupted on storage: the server keeps the version it served
before, reports what happened in health, and an artifact that does not load is never promoted."""

import shutil
from pathlib import Path

import pytest

from engine import registry
from engine.models import ModelVersion
from engine.versions import artifact_dir
from tests.engine.planted import reset_engine_state

Status = ModelVersion.Status
QUERY = {"user_id": "p1", "n": 3}


def served(read_client) -> int:
    response = read_client.get("/api/v1/products/recommendations", QUERY)
    assert response.status_code == 200, response.content
    assert response.json()["items"]
    return response.json()["model_version"]


@pytest.fixture
def two_versions(store, train_products):
    first = train_products(model="itemknn", promotion_tolerance=1.0)
    second = train_products(model="itemknn")
    first.refresh_from_db()
    assert second.status == Status.PROMOTED and first.status == Status.RETIRED
    return first, second


def corrupt(version: ModelVersion) -> None:
    for path in Path(version.artifact_path).rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00garbage")


@pytest.mark.parametrize("damage", [corrupt, lambda v: shutil.rmtree(v.artifact_path)])
def test_a_new_process_serves_the_previous_version_and_health_says_why(
    two_versions, damage, read_client, api_client
):
    first, second = two_versions
    damage(second)
    reset_engine_state()  # a server process starting now
    assert served(read_client) == first.pk
    assert served(read_client) == first.pk  # remembered: no reload attempt per request
    health = api_client.get("/api/v1/health").json()["components"]["models"]
    assert health["status"] == "degraded"
    assert f"products v{second.pk} artifact unreadable" in health["detail"]
    assert f"serving v{first.pk}" in health["detail"]


def test_a_process_that_loaded_the_version_keeps_serving_it(two_versions, read_client):
    _, second = two_versions
    assert served(read_client) == second.pk
    shutil.rmtree(second.artifact_path)
    assert served(read_client) == second.pk  # held in memory


def test_with_no_readable_version_the_fallback_answers(store, train_products, read_client):
    only = train_products(model="itemknn")
    shutil.rmtree(only.artifact_path)
    reset_engine_state()
    response = read_client.get("/api/v1/products/recommendations", QUERY)
    assert response.status_code == 200
    assert response.json()["model_version"] is None and response.json()["fallback"] is True


def test_an_artifact_that_does_not_load_is_never_promoted(
    two_versions, train_products, read_client, monkeypatch
):
    _, second = two_versions
    scenario = registry.get("products")

    def unreadable(version):
        raise ValueError("truncated arrays")

    monkeypatch.setattr(scenario, "load_state", unreadable)
    third = train_products(model="itemknn")
    assert third.status == Status.FAILED
    assert "does not load" in third.error and "truncated arrays" in third.error
    assert third.artifact_path == "" and not artifact_dir(third).exists()
    monkeypatch.undo()
    assert served(read_client) == second.pk
