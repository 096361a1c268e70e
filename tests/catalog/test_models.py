"""The catalog models: availability rules, seeded event types, API keys, cascades, indexes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from catalog.bulk import INTERACTION_COLUMNS
from catalog.models import ApiKey, EventType, Interaction, Item, User, hash_api_key

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_recommendable_keeps_only_visible_in_stock_items_inside_their_window():
    hour = timedelta(hours=1)
    planted = {
        "plain": {},
        "hidden": {"is_hidden": True},
        "sold-out": {"in_stock": False},
        "not-yet": {"available_from": NOW + hour},
        "started": {"available_from": NOW - hour},
        "ended": {"available_until": NOW - hour},
        "ends-now": {"available_until": NOW},
        "ends-later": {"available_from": NOW - hour, "available_until": NOW + hour},
    }
    for external_id, fields in planted.items():
        Item.objects.create(external_id=external_id, **fields)

    shown = set(Item.objects.recommendable(NOW).values_list("external_id", flat=True))

    assert shown == {"plain", "started", "ends-later"}


@pytest.mark.django_db
def test_standard_event_types_are_seeded_with_weights_and_polarity():
    types = {t.name: (t.weight, t.is_positive) for t in EventType.objects.all()}

    assert set(types) >= {
        "view",
        "click",
        "add_to_cart",
        "purchase",
        "rating",
        "like",
        "dislike",
        "share",
    }
    assert types["view"] == (1.0, True)
    assert types["purchase"] == (8.0, True)
    assert types["dislike"][1] is False


@pytest.mark.django_db
def test_api_key_is_stored_hashed_and_returned_raw_once():
    api_key, raw_key = ApiKey.create_key("shop", scopes=["read", "write"])

    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.key_hash == hash_api_key(raw_key) != raw_key
    assert stored.prefix == raw_key[:8]
    assert not ApiKey.objects.filter(key_hash=raw_key).exists()
    assert stored.has_scope("write") and not stored.has_scope("admin")


def test_api_key_refuses_unknown_scopes():
    with pytest.raises(ValueError, match="unknown scopes"):
        ApiKey.create_key("shop", scopes=["read", "admin"])


@pytest.mark.django_db
def test_deleting_a_user_deletes_their_interactions_only():
    alice, bob = User.objects.create(external_id="alice"), User.objects.create(external_id="bob")
    item = Item.objects.create(external_id="sku")
    for user in (alice, alice, bob):
        Interaction.objects.create(user=user, item=item, event_type="view", timestamp=NOW)

    alice.delete()

    assert list(Interaction.objects.values_list("user__external_id", flat=True)) == ["bob"]


@pytest.mark.django_db
def test_interaction_indexes_serve_user_newest_first_and_item_time_window():
    constraints = connection.introspection.get_constraints(
        connection.cursor(), Interaction._meta.db_table
    )

    assert constraints["interaction_user_time"]["columns"] == ["user_id", "timestamp"]
    assert constraints["interaction_user_time"]["orders"] == ["ASC", "DESC"]
    assert constraints["interaction_item_time"]["columns"] == ["item_id", "timestamp"]
    assert constraints["interaction_item_time"]["orders"] == ["ASC", "ASC"]


def test_raw_interaction_insert_writes_every_column_but_the_key():
    columns = {field.column for field in Interaction._meta.concrete_fields if not field.primary_key}

    assert set(INTERACTION_COLUMNS) == columns
