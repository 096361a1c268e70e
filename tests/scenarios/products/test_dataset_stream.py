"""The streamed products training set equals the one built the plain way, event by event.

build_dataset reads the events in chunks (binary COPY on PostgreSQL, a chunked cursor on
SQLite) into column arrays; here the same matrices are built from ORM objects with dicts.
"""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

pytestmark = pytest.mark.django_db


def plain_build(settings, item_kinds):
    """The reference: sum each (user, item) pair's weights, keep its latest event time."""
    from catalog.models import Interaction
    from scenarios.products.dataset import event_weights

    weights = event_weights(settings)
    summed, latest = {}, {}
    events = Interaction.objects.filter(event_type__in=list(weights), item__kind__in=item_kinds)
    stamps = []
    for event in events.select_related("user", "item"):
        pair = (event.user.external_id, event.item.external_id)
        summed[pair] = summed.get(pair, 0.0) + weights[event.event_type]
        latest[pair] = max(latest.get(pair, 0.0), event.timestamp.timestamp())
        stamps.append(event.timestamp.timestamp())
    return summed, latest, min(stamps), max(stamps), len(stamps)


@pytest.fixture
def small_store(db):
    """Users and items with gaps in their keys, repeated pairs of mixed event types and times,
    microsecond timestamps, and events the training set must leave out."""
    from catalog.models import Interaction, Item, User

    start = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    users = [
        User.objects.create(external_id=f"u{k}", age_band=("18-24", "55+", "")[k % 3])
        for k in range(7)
    ]
    items = [Item.objects.create(external_id=f"i{k}") for k in range(9)]
    article = Item.objects.create(external_id="a0", kind="article")
    users[3].delete()  # gaps in the key ranges
    items[4].delete()
    users, items = users[:3] + users[4:], items[:4] + items[5:]
    rng = np.random.default_rng(7)
    kinds = ["view", "add_to_cart", "purchase", "dislike", "click"]
    events = []
    for n in range(400):
        user = users[int(rng.integers(len(users)))]
        item = items[int(rng.zipf(1.6)) % len(items)]  # popular items: many repeated pairs
        moment = start + timedelta(minutes=int(rng.integers(90 * 24 * 60)), microseconds=n)
        events.append(
            Interaction(user=user, item=item, event_type=kinds[n % len(kinds)], timestamp=moment)
        )
    events.append(Interaction(user=users[0], item=article, event_type="view", timestamp=start))
    Interaction.objects.bulk_create(events)
    return users, items


def test_streamed_build_equals_the_plain_build(small_store, monkeypatch):
    from scenarios.products import dataset
    from scenarios.products.scenario import ProductsScenario

    monkeypatch.setattr(dataset, "CHUNK_ROWS", 7)  # many chunks, rows split across them
    scenario = ProductsScenario()
    settings = scenario.effective_settings({"event_weights": {"click": 0.5}})
    data = dataset.build_dataset(settings, scenario.item_kinds)
    summed, latest, first, last, count = plain_build(settings, scenario.item_kinds)

    assert data.n_events == count and data.time_from == first and data.time_to == last
    assert "a0" not in data.items  # an article, not a product
    assert data.matrix.nnz == len(summed) == data.times.nnz < count  # pairs repeat
    assert data.matrix.has_canonical_format and data.times.has_canonical_format
    dense = np.zeros(data.matrix.shape, np.float32)
    minutes = np.zeros(data.matrix.shape, np.float32)
    for (user, item), weight in summed.items():
        row, column = data.users.get(user), data.items.get(item)
        dense[row, column] = weight
        minutes[row, column] = (latest[(user, item)] - first) / 60.0 + 1.0
    np.testing.assert_array_equal(data.matrix.toarray(), dense)
    np.testing.assert_array_equal(data.times.toarray(), minutes)
    assert data.matrix.dtype == data.times.dtype == np.float32
    assert list(data.user_pks) == sorted(data.user_pks)
    assert [data.users.ids[k] for k in range(len(data.users))] == [
        f"u{pk}" for pk in (0, 1, 2, 4, 5, 6)
    ]


def test_sparse_keys_fall_back_to_a_sort(monkeypatch):
    from scenarios.products import dataset

    keys = np.array([5, 10**9, 5, 70, 10**9, 3], dtype=np.int64)
    expected_unique, expected_index = np.unique(keys, return_inverse=True)
    for span in (2 * 10**9, 100):  # a lookup table over the span, then the sort
        monkeypatch.setattr(dataset, "DENSE_SPAN", span)
        unique, index = dataset._dense_index(keys)
        np.testing.assert_array_equal(unique, expected_unique)
        np.testing.assert_array_equal(index, expected_index)
        assert index.dtype == np.int32


def test_no_weighted_events_is_refused(db):
    from catalog.models import Interaction, Item, User
    from scenarios.products.dataset import build_dataset

    user, item = User.objects.create(external_id="u"), Item.objects.create(external_id="i")
    Interaction.objects.create(
        user=user, item=item, event_type="dislike", timestamp=datetime.now(UTC)
    )

    with pytest.raises(ValueError, match="no interactions of the weighted event types"):
        build_dataset({}, ("product",))
