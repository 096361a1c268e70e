"""The PostgreSQL fast path of event ingestion (array lookups, unnest insert, ON CONFLICT)."""

import json
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from catalog.models import Interaction, Item, User

# Skipped before any database setup, so a transactional test never touches SQLite's state.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs DATABASE_URL pointing at PostgreSQL (make test-integration)",
    ),
]

URL = "/api/v1/events"


def test_batch_round_trips_every_field_and_counts_duplicates_exactly(write_client):
    Item.objects.create(external_id="sku-1")
    rows = [
        {
            "event_id": f"e-{i}",
            "user_id": f"u-{i % 2}",
            "item_id": "sku-1",
            "type": "rating",
            "value": i + 0.5,
            "timestamp": f"2024-05-0{i + 1}T10:00:00Z",
            "context": {"device": "web", "recommendation_id": f"r-{i}", "nested": {"n": i}},
        }
        for i in range(3)
    ]
    rows.append({"user_id": "u-9", "item_id": "new-sku", "type": "view"})  # no event_id

    first = write_client.post(URL, {"events": rows, "create_missing_items": True})
    again = write_client.post(URL, {"events": rows, "create_missing_items": True})

    assert first.json() == {"accepted": 4, "duplicates": 0}
    assert again.json() == {"accepted": 1, "duplicates": 3}  # only the id-less event repeats
    stored = Interaction.objects.get(event_id="e-2")
    assert (stored.user.external_id, stored.value, stored.recommendation_id) == ("u-0", 2.5, "r-2")
    assert stored.context == {"device": "web", "recommendation_id": "r-2", "nested": {"n": 2}}
    assert stored.timestamp.isoformat() == "2024-05-03T10:00:00+00:00"
    assert Interaction.objects.filter(event_id__isnull=True).count() == 2
    created_user, created_item = (
        User.objects.get(external_id="u-9"),
        Item.objects.get(external_id="new-sku"),
    )
    assert (created_user.segments, created_user.attributes) == ([], {})
    assert created_user.created_at is not None and created_user.updated_at is not None
    assert (created_item.kind, created_item.tags, created_item.in_stock) == ("product", [], True)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_overlapping_batches_neither_deadlock_nor_double_count(make_api_client):
    Item.objects.create(external_id="sku-1")
    raw_key = make_api_client("write").raw_key
    results = []

    def send(order):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        for round_ in range(5):
            rows = [
                {
                    "event_id": f"e-{round_}-{i}",
                    "user_id": f"u-{round_}-{i}",
                    "item_id": "sku-1",
                    "type": "view",
                }
                for i in order
            ]
            body = json.dumps({"events": rows})
            results.append(
                client.generic("POST", URL, body, content_type="application/json").json()
            )
        connection.close()

    threads = [
        threading.Thread(target=send, args=(order,))
        for order in (range(200), range(199, -1, -1), range(200), range(199, -1, -1))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 20 and all("accepted" in result for result in results), results
    assert sum(result["accepted"] for result in results) == 5 * 200
    assert sum(result["duplicates"] for result in results) == 3 * 5 * 200
    assert Interaction.objects.count() == 1000
