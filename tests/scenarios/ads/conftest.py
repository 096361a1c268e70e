import pytest


@pytest.fixture
def train_ads(django_capture_on_commit_callbacks):
    """Train ads through the engine (eager Celery) with these settings; the promoted version."""
    from engine.versions import request_training
    from tests.engine.planted import configure

    def train(**settings):
        configure("ads", **{"model": "logistic", **settings})
        with django_capture_on_commit_callbacks(execute=True):
            version = request_training("ads", triggered_by="test")
        version.refresh_from_db()
        assert version.status == "promoted", version.error
        return version

    return train
