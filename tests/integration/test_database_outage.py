"""PostgreSQL goes away during event ingestion and comes back: clients are told to retry (503
with Retry-After, never a 500), and after their retries every event is in the database once."""

import pytest
from django.db import close_old_connections, connection

from catalog.models import Interaction, Item, User
from tests.integration.outage import Outage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BATCHES, PER_BATCH = 30, 10


@pytest.fixture
def database_outage():
    """This process's database connection, routed through an :class:`Outage`."""
    saved = dict(connection.settings_dict)
    outage = Outage(saved["HOST"] or "127.0.0.1", int(saved["PORT"] or 5432))
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(outage.port))
    try:
        yield outage
    finally:
        outage.restore()
        connection.close()
        connection.settings_dict.update(HOST=saved["HOST"], PORT=saved["PORT"])
        outage.close()


def batch(number: int) -> dict:
    return {
        "create_missing_items": True,
        "events": [
            {
                "event_id": f"outage-{number}-{row}",
                "user_id": f"u{row}",
                "item_id": f"i{number % 5}",
                "type": "view",
            }
            for row in range(PER_BATCH)
        ],
    }


def send(client, method: str, path: str, body: dict):
    response = getattr(client, method)(path, body, format="json")
    # What a WSGI server does after each request (Django's test client skips it): a connection
    # that failed is closed, so the next request connects again.
    close_old_connections()
    return response


def test_events_sent_while_the_database_is_down_get_503_and_land_once_on_retry(
    write_client, database_outage
):
    statuses, refused = {}, []
    for number in range(BATCHES):
        if number == 10:
            database_outage.cut()
        if number == 20:
            database_outage.restore()
        response = send(write_client, "post", "/api/v1/events", batch(number))
        statuses[number] = response.status_code
        if response.status_code == 503:
            assert response["Retry-After"] == "5"
            body = response.json()
            assert body["code"] == "database_unavailable" and "Retry" in body["detail"]
            refused.append(number)
        read = send(
            write_client, "get", "/api/v1/products/recommendations", {"user_id": "u1", "n": 3}
        )
        assert read.status_code in (200, 404, 503), read.content

    assert all(code < 500 or code == 503 for code in statuses.values()), statuses
    assert set(refused) <= set(range(10, 21)) and len(refused) >= 9, statuses
    accepted = [number for number, code in statuses.items() if code < 300]

    for number in refused:  # what a client does with a 503: the same body again
        assert send(write_client, "post", "/api/v1/events", batch(number)).status_code < 300
    for number in accepted[:3]:  # and a retry of a batch that did land changes nothing
        assert send(write_client, "post", "/api/v1/events", batch(number)).status_code < 300

    event_ids = list(Interaction.objects.values_list("event_id", flat=True))
    assert len(event_ids) == len(set(event_ids)) == BATCHES * PER_BATCH
    assert User.objects.count() == PER_BATCH and Item.objects.count() == 5
