"""Scenario test fixtures, as in tests/engine: fresh engine state, planted store, training."""

import pytest

from tests.engine.planted import configure, plant_store, reset_engine_state


@pytest.fixture(autouse=True)
def fresh_engine(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    reset_engine_state()
    yield
    reset_engine_state()


@pytest.fixture
def store(db):
    return plant_store()


@pytest.fixture
def train_products(django_capture_on_commit_callbacks):
    """Train products through the engine (eager Celery), running the on-commit enqueues."""
    from engine.versions import request_training

    def train(**overrides):
        if overrides:
            configure("products", **overrides)
        with django_capture_on_commit_callbacks(execute=True):
            version = request_training("products", triggered_by="test")
        version.refresh_from_db()
        return version

    return train
