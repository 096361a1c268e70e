"""Fixtures the engine and scenario tests share; each conftest imports them by name."""

import pytest

from tests.engine.planted import configure, plant_store, reset_engine_state


@pytest.fixture(autouse=True)
def fresh_engine(settings, tmp_path):
    """Own artifacts folder and no engine memo or cache left over. One test process shares its
    cache, so cached lists go stale by the ``events_ingested`` stamp, as with Redis."""
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.ENGINE_FRESHNESS_BY_SIGNAL = True
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
