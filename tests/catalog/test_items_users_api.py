"""Items and users: upsert one or many, read, filter, paginate, hide and erase."""

from datetime import UTC, datetime

import pytest

from catalog.models import Interaction, Item, User
from catalog.signals import item_hidden, user_erased


@pytest.fixture
def signal_log():
    """Record item_hidden and user_erased sends as (signal name, id)."""
    log = []

    def on_hidden(sender, item_id, **kwargs):
        log.append(("item_hidden", item_id))

    def on_erased(sender, user_id, **kwargs):
        log.append(("user_erased", user_id))

    item_hidden.connect(on_hidden)
    user_erased.connect(on_erased)
    yield log
    item_hidden.disconnect(on_hidden)
    user_erased.disconnect(on_erased)


def test_put_creates_then_updates_only_the_fields_sent(write_client):
    created = write_client.put(
        "/api/v1/items/sku-9",
        {
            "title": "Phone X",
            "category": "/Electronics/ Phones/",
            "price": 199.5,
            "tags": ["5g", "oled"],
        },
    )
    updated = write_client.put("/api/v1/items/sku-9", {"price": "149.00", "in_stock": False})

    assert created.status_code == 201
    assert created.json()["item_id"] == "sku-9"
    assert created.json()["category"] == "Electronics/Phones"
    assert updated.status_code == 200
    body = updated.json()
    assert (body["title"], body["price"], body["in_stock"]) == ("Phone X", 149.0, False)
    assert body["tags"] == ["5g", "oled"]
    assert "id" not in body
    assert Item.objects.get().updated_at > Item.objects.get().created_at


def test_put_refuses_unknown_fields_a_mismatched_id_and_bad_windows(write_client):
    unknown = write_client.put("/api/v1/items/sku-1", {"title": "x", "colour": "red"})
    mismatch = write_client.put("/api/v1/items/sku-1", {"item_id": "sku-2"})
    window = write_client.put(
        "/api/v1/items/sku-1",
        {"available_from": "2024-02-01T00:00:00Z", "available_until": "2024-01-01T00:00:00Z"},
    )
    read_only = write_client.put("/api/v1/users/u1", {"created_at": "2024-01-01T00:00:00Z"})

    assert [r.status_code for r in (unknown, mismatch, window, read_only)] == [400] * 4
    assert unknown.json()["errors"][0]["field"] == "colour"
    assert "allowed fields" in unknown.json()["errors"][0]["message"]
    assert mismatch.json()["errors"][0]["field"] == "item_id"
    assert window.json()["errors"][0]["field"] == "available_until"
    assert read_only.json()["errors"][0]["field"] == "created_at"
    assert not Item.objects.exists() and not User.objects.exists()


def test_get_one_and_unknown_ids_answer_json_404(read_client, items):
    found = read_client.get("/api/v1/items/sku-3")
    missing = read_client.get("/api/v1/items/nope")
    missing_user = read_client.get("/api/v1/users/nobody")

    assert found.json()["category"] == "books"
    assert found.json()["price"] == 12.5
    assert missing.status_code == missing_user.status_code == 404
    assert "nope" in missing.json()["detail"]
    assert "nobody" in missing_user.json()["detail"]


def test_item_batch_upserts_and_counts(write_client, items):
    response = write_client.post(
        "/api/v1/items/batch",
        {
            "items": [
                {"item_id": "sku-1", "title": "Renamed"},
                {"item_id": "new", "kind": "article"},
                {
                    "item_id": "sku-2",
                    "price": "350.10",
                    "attributes": {"brand": "Acme", "sizes": [1, 2]},
                    "available_from": "2024-01-01T00:00:00+01:00",
                },
            ]
        },
    )

    assert response.json() == {"created": 1, "updated": 2}
    renamed, repriced = Item.objects.get(external_id="sku-1"), Item.objects.get(external_id="sku-2")
    assert renamed.title == "Renamed"
    assert renamed.category == "electronics/phones"  # kept
    assert str(repriced.price) == "350.10"
    assert repriced.attributes == {"brand": "Acme", "sizes": [1, 2]}
    assert repriced.available_from == datetime(2023, 12, 31, 23, tzinfo=UTC)
    assert Item.objects.get(external_id="new").kind == "article"


def test_batch_with_bad_rows_writes_nothing_and_names_each_row(write_client, items):
    response = write_client.post(
        "/api/v1/users/batch",
        {
            "users": [
                {"user_id": "a", "segments": ["vip"]},
                {"segments": ["vip"]},
                {"user_id": "b", "segments": "vip"},
                {"user_id": "a"},
            ]
        },
    )

    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (1, "user_id"),
        (2, "segments"),
        (3, "user_id"),
    ]
    assert "repeats row 0" in response.json()["errors"][2]["message"]
    assert not User.objects.exists()


def test_batch_body_must_hold_only_the_list(write_client):
    response = write_client.post("/api/v1/items/batch", {"items": [], "extra": 1})

    assert response.status_code == 400
    assert '{"items": [...]}' in response.json()["detail"]


def test_item_list_filters(read_client, write_client, items):
    write_client.put("/api/v1/items/acc-1", {"category": "electronics-accessories", "price": 5})
    write_client.put("/api/v1/items/art-1", {"kind": "article", "tags": ["howto", "phones"]})
    write_client.put("/api/v1/items/sku-3", {"in_stock": False})

    def ids(**params):
        response = read_client.get("/api/v1/items", params)
        assert response.status_code == 200, response.json()
        return [row["item_id"] for row in response.json()["results"]]

    assert ids(category="electronics") == ["sku-1", "sku-2"]
    assert ids(category="electronics/phones") == ["sku-1", "sku-2"]
    assert ids(min_price=100, max_price=300) == ["sku-1"]
    assert ids(kind="article") == ["art-1"]
    assert ids(tag="howto") == ["art-1"]
    assert ids(in_stock="false") == ["sku-3"]
    assert ids(recommendable="false") == ["sku-3"]
    assert ids(updated_since="2999-01-01T00:00:00Z") == []


def test_user_list_filters_by_segment(read_client, write_client):
    write_client.post(
        "/api/v1/users/batch",
        {
            "users": [
                {"user_id": "a", "segments": ["vip", "new"]},
                {"user_id": "b", "segments": ["vip-lapsed"]},
                {"user_id": "c", "segments": ["vip"], "age_band": "25-34"},
            ]
        },
    )

    response = read_client.get("/api/v1/users", {"segment": "vip"})
    by_age = read_client.get("/api/v1/users", {"age_band": "25-34"})

    assert [row["user_id"] for row in response.json()["results"]] == ["a", "c"]
    assert [row["user_id"] for row in by_age.json()["results"]] == ["c"]


def test_pagination_links_and_limits(read_client):
    Item.objects.bulk_create([Item(external_id=f"sku-{i:02d}") for i in range(25)])

    first = read_client.get("/api/v1/items", {"page_size": 10}).json()
    last = read_client.get("/api/v1/items", {"page_size": 10, "page": 3}).json()
    too_big = read_client.get("/api/v1/items", {"page_size": 1001})
    not_a_number = read_client.get("/api/v1/items", {"page_size": "ten"})
    past_the_end = read_client.get("/api/v1/items", {"page_size": 10, "page": 4})

    assert first["count"] == 25 and first["previous"] is None
    assert [row["item_id"] for row in first["results"]] == [f"sku-{i:02d}" for i in range(10)]
    assert "page=2" in first["next"]
    assert [row["item_id"] for row in last["results"]] == [f"sku-{i:02d}" for i in range(20, 25)]
    assert last["next"] is None
    assert too_big.status_code == not_a_number.status_code == 400
    assert "from 1 to 1000" in too_big.json()["errors"][0]["message"]
    assert past_the_end.status_code == 404
    assert "Invalid page" in past_the_end.json()["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("min_price", "cheap"), ("updated_since", "0001-01-01T00:00:00+05:00")],
)
def test_bad_filter_values_answer_400(read_client, field, value):
    response = read_client.get("/api/v1/items", {field: value})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_date_filters_accept_any_offset(read_client, items):
    response = read_client.get("/api/v1/items", {"updated_since": "2000-01-01T00:00:00-17:21"})

    assert response.json()["count"] == 3


def test_delete_item_hides_it_from_recommendations(write_client, items, signal_log):
    response = write_client.delete("/api/v1/items/sku-2")

    assert response.status_code == 204
    assert Item.objects.get(external_id="sku-2").is_hidden
    assert set(Item.objects.recommendable().values_list("external_id", flat=True)) == {
        "sku-1",
        "sku-3",
    }
    assert signal_log == [("item_hidden", "sku-2")]


def test_delete_user_erases_their_events_and_tells_listeners(
    write_client, items, signal_log, django_capture_on_commit_callbacks
):
    when = datetime(2024, 1, 1, tzinfo=UTC)
    alice, bob = User.objects.create(external_id="alice"), User.objects.create(external_id="bob")
    for user in (alice, bob):
        Interaction.objects.create(
            user=user, item=items["sku-1"], event_type="view", timestamp=when
        )

    with django_capture_on_commit_callbacks(execute=True):
        response = write_client.delete("/api/v1/users/alice")
    again = write_client.delete("/api/v1/users/alice")

    assert response.status_code == 204
    assert again.status_code == 404
    assert list(User.objects.values_list("external_id", flat=True)) == ["bob"]
    assert list(Interaction.objects.values_list("user__external_id", flat=True)) == ["bob"]
    assert signal_log == [("user_erased", "alice")]


def test_ids_are_kept_verbatim_including_spaces(write_client, read_client):
    created = write_client.put("/api/v1/users/%20padded%20", {"segments": ["a"]})

    assert created.status_code == 201
    assert created.json()["user_id"] == " padded "
    assert read_client.get("/api/v1/users/%20padded%20").json()["segments"] == ["a"]


def test_errors_inside_lists_name_the_position(write_client):
    response = write_client.put("/api/v1/items/sku-1", {"tags": ["ok", ["nested"]]})

    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["tags.1"]
