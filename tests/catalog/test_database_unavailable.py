"""An unreachable or locked database answers 503 with Retry-After, never a 500."""

import pytest
from django.db import OperationalError


@pytest.mark.django_db
def test_a_database_error_during_ingestion_is_a_503_to_retry(write_client, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed")

    monkeypatch.setattr("catalog.views.ingest", unreachable)
    response = write_client.post(
        "/api/v1/events", {"user_id": "u1", "item_id": "i1", "type": "view"}, format="json"
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "database_unavailable"
    assert "event_id" in response.json()["detail"]  # how to retry safely
