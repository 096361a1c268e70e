"""POST /api/v1/events: single events, batches, idempotency, all-or-nothing validation."""

import io
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from catalog.models import Interaction, Item, User
from catalog.parsers import PayloadTooLarge, StrictJSONParser
from catalog.signals import events_ingested

URL = "/api/v1/events"


def event(index: int, **fields) -> dict:
    return {
        "event_id": f"e-{index}",
        "user_id": f"u-{index % 3}",
        "item_id": "sku-1",
        "type": "view",
        **fields,
    }


def test_single_event_is_stored_with_all_its_fields(write_client, items):
    response = write_client.post(
        URL,
        {
            "event_id": "e-1",
            "user_id": "alice",
            "item_id": "sku-2",
            "type": "rating",
            "value": 4.5,
            "timestamp": "2024-05-01T12:30:00+02:00",
            "context": {"device": "mobile", "recommendation_id": "rec-7"},
        },
    )

    assert response.status_code == 200, response.json()
    assert response.json() == {"accepted": 1, "duplicates": 0}
    stored = Interaction.objects.get()
    assert (stored.user.external_id, stored.item.external_id) == ("alice", "sku-2")
    assert (stored.event_type, stored.value, stored.event_id) == ("rating", 4.5, "e-1")
    assert stored.timestamp == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert stored.context == {"device": "mobile", "recommendation_id": "rec-7"}
    assert stored.recommendation_id == "rec-7"


def test_defaults_timestamp_now_naive_means_utc_and_integer_ids_are_accepted(write_client, items):
    Item.objects.create(external_id="42")
    before = timezone.now()
    write_client.post(URL, {"events": [{"user_id": 7, "item_id": 42, "type": "click"}]})
    write_client.post(
        URL, {"user_id": 7, "item_id": "sku-1", "type": "view", "timestamp": "2024-01-02T03:04:05"}
    )

    clicked, viewed = Interaction.objects.order_by("id")
    assert clicked.user.external_id == "7" and clicked.item.external_id == "42"
    assert before <= clicked.timestamp <= timezone.now()
    assert clicked.event_id is None
    assert viewed.timestamp == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_timestamps_are_stored_in_utc_whatever_their_offset(write_client, items):
    # Python accepts offsets up to ±23:59; PostgreSQL only up to ±15:59.
    write_client.post(URL, event(0, timestamp="2024-05-01T12:00:00-17:21"))

    assert Interaction.objects.get().timestamp == datetime(2024, 5, 2, 5, 21, tzinfo=UTC)


def test_batch_creates_unknown_users_and_counts_accepted(write_client, items):
    response = write_client.post(URL, {"events": [event(i) for i in range(5)]})

    assert response.json() == {"accepted": 5, "duplicates": 0}
    assert Interaction.objects.count() == 5
    assert set(User.objects.values_list("external_id", flat=True)) == {"u-0", "u-1", "u-2"}


def test_repeated_event_ids_are_duplicates_within_a_batch_and_across_requests(write_client, items):
    first = write_client.post(URL, {"events": [event(1), event(2), event(1, type="click")]})
    again = write_client.post(URL, {"events": [event(2), event(3)]})

    assert first.json() == {"accepted": 2, "duplicates": 1}
    assert again.json() == {"accepted": 1, "duplicates": 1}
    stored = dict(Interaction.objects.values_list("event_id", "event_type"))
    assert stored == {"e-1": "view", "e-2": "view", "e-3": "view"}  # the first e-1 wins


def test_one_bad_row_rejects_the_whole_batch_with_each_problem_named(write_client, items):
    rows = [
        event(0),
        event(1, type="teleport"),
        event(2, value="five"),
        "not an object",
        event(4, timestamp="yesterday", colour="red"),
        {"item_id": "sku-1", "type": "view"},
    ]

    response = write_client.post(URL, {"events": rows})

    assert response.status_code == 400
    body = response.json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "type"),
        (2, "value"),
        (3, ""),
        (4, "colour"),
        (4, "timestamp"),
        (5, "user_id"),
    ]
    assert "teleport" in body["errors"][0]["message"]
    assert "purchase" in body["errors"][0]["message"]  # lists the known types
    assert "nothing was written" in body["detail"]
    assert not Interaction.objects.exists()
    assert not User.objects.exists()


def test_unknown_items_are_refused_unless_create_missing_items(write_client, items):
    rows = [event(0), event(1, item_id="new-sku")]

    refused = write_client.post(URL, {"events": rows})
    created = write_client.post(URL, {"events": rows, "create_missing_items": True})
    single = write_client.post(URL, {**event(2, item_id="other-sku"), "create_missing_items": True})

    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {
            "index": 1,
            "field": "item_id",
            "message": refused.json()["errors"][0]["message"],
        }
    ]
    assert "create_missing_items" in refused.json()["errors"][0]["message"]
    assert created.json() == {"accepted": 2, "duplicates": 0}
    assert single.json() == {"accepted": 1, "duplicates": 0}
    assert Item.objects.filter(external_id__in=["new-sku", "other-sku"]).count() == 2


def test_create_missing_items_inside_a_batch_row_is_refused_with_a_hint(write_client, items):
    response = write_client.post(URL, {"events": [event(0, create_missing_items=True)]})

    [error] = response.json()["errors"]
    assert error["field"] == "create_missing_items"
    assert "top level" in error["message"]


def test_timestamps_more_than_five_minutes_ahead_are_refused(write_client, items):
    now = timezone.now()
    soon = (now + timedelta(minutes=4)).isoformat()
    too_far = (now + timedelta(minutes=6)).isoformat()

    accepted = write_client.post(URL, event(0, timestamp=soon))
    refused = write_client.post(URL, event(1, timestamp=too_far))

    assert accepted.status_code == 200
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "timestamp"
    assert "future" in refused.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"value": True}, "value"),
        ({"context": ["mobile"]}, "context"),
        ({"context": {"recommendation_id": "r" * 65}}, "context.recommendation_id"),
        ({"user_id": ""}, "user_id"),
        ({"item_id": ["sku-1"]}, "item_id"),
        ({"event_id": "x" * 256}, "event_id"),
        ({"type": {"name": "view"}}, "type"),
        ({"timestamp": 1714560000}, "timestamp"),
        ({"timestamp": "0001-01-01T00:00:00+10:00"}, "timestamp"),
    ],
)
def test_wrong_types_are_refused_per_field(write_client, items, fields, field):
    response = write_client.post(URL, {"events": [event(0, **fields)]})

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    "body",
    [
        ["not", "an", "object"],
        {"events": "e-1"},
        {"events": [], "source": "app"},
        {"events": [], "create_missing_items": "yes"},
    ],
)
def test_bad_body_shapes_are_refused(write_client, body):
    response = write_client.post(URL, body)

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]


def test_batches_above_ten_thousand_events_are_refused(write_client):
    response = write_client.post(URL, {"events": [{}] * 10_001})

    assert response.status_code == 400
    assert "at most 10000" in response.json()["errors"][0]["message"]


def test_ingestion_costs_a_fixed_number_of_queries_whatever_the_batch_size(
    write_client, items, django_assert_max_num_queries
):
    rows = [event(i, user_id=f"new-{i}", item_id=f"sku-{1 + i % 3}") for i in range(300)]

    # Key, key last-used, event types, items, savepoint, event ids, users, new users, new user
    # ids, interactions, release: 11 on PostgreSQL. SQLite splits each insert into chunks of
    # 999 parameters, adding 4 here. Per-row queries would be hundreds.
    with django_assert_max_num_queries(15):
        response = write_client.post(URL, {"events": rows})

    assert response.json() == {"accepted": 300, "duplicates": 0}
    assert User.objects.count() == 300


def test_events_ingested_signal_fires_after_commit(
    write_client, items, django_capture_on_commit_callbacks
):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    events_ingested.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            write_client.post(URL, {"events": [event(0), event(1), event(0)]})
    finally:
        events_ingested.disconnect(receiver)

    assert [(r["user_ids"], r["item_ids"], r["count"]) for r in received] == [
        (["u-0", "u-1"], ["sku-1"], 2)
    ]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "phrase"),
    [
        (b'{"user_id": "a",', "application/json", 400, "Malformed JSON"),
        (b'{"user_id": NaN}', "application/json", 400, "Malformed JSON"),
        (b'{"user_id": "a\\u0000b"}', "application/json", 400, "NUL"),
        (b'{"user_id": "a\\ud800"}', "application/json", 400, "surrogate"),
        (b"\xff\xfe{", "application/json", 400, "Malformed JSON"),
        (b"user_id=a", "application/x-www-form-urlencoded", 415, "Unsupported media type"),
    ],
)
def test_malformed_bodies_get_a_json_4xx(write_client, body, content_type, status, phrase):
    response = write_client.generic("POST", URL, body, content_type=content_type)

    assert response.status_code == status
    assert phrase in response.json()["detail"]


def test_out_of_range_numbers_are_refused(write_client, items):
    body = b'{"user_id": "a", "item_id": "sku-1", "type": "rating", "value": 1e400}'

    response = write_client.generic("POST", URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "value"


def test_oversize_bodies_get_413(write_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = write_client.post(URL, {"events": [event(i) for i in range(50)]})

    assert response.status_code == 413
    assert "split the batch" in response.json()["detail"]


def test_list_events_filters_by_user_newest_first(write_client, items):
    rows = [
        event(0, user_id="alice", timestamp="2024-01-01T00:00:00Z"),
        event(1, user_id="alice", timestamp="2024-03-01T00:00:00Z", item_id="sku-3"),
        event(2, user_id="bob", timestamp="2024-02-01T00:00:00Z"),
    ]
    write_client.post(URL, {"events": rows})

    response = write_client.get(URL, {"user_id": "alice"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [(e["event_id"], e["item_id"]) for e in body["results"]] == [
        ("e-1", "sku-3"),
        ("e-0", "sku-1"),
    ]


def test_parser_stops_reading_at_the_size_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    stream = io.BytesIO(b'{"user_id": "0123456789"}')

    with pytest.raises(PayloadTooLarge, match="exceeds 10 bytes"):
        StrictJSONParser().parse(stream)


def test_parser_refuses_a_declared_oversize_body_without_reading_it(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10

    class UnreadableStream:
        def read(self, size=-1):
            raise AssertionError("the body must not be read")

    request = SimpleNamespace(META={"CONTENT_LENGTH": "5000000"})

    with pytest.raises(PayloadTooLarge):
        StrictJSONParser().parse(UnreadableStream(), parser_context={"request": request})
