"""The PostgreSQL fast path of event ingestion (array lookups, unnest insert, ON CONFLICT)."""

import pytest
from django.db import connection

from catalog.models import Interaction, Item

pytestmark = pytest.mark.integration

URL = "/api/v1/events"


@pytest.fixture(autouse=True)
def _postgresql_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL pointing at PostgreSQL (make test-integration)")


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
