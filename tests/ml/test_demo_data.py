"""The demo store is deterministic and carries the behaviour it claims to plant."""

import numpy as np
import pytest

from ml.datasets.demo import (
    AGE_BANDS,
    CATEGORY_TREE,
    DAY,
    DEFAULT_START,
    GENDERS,
    LOCATIONS,
    TASTES_PER_USER,
    generate_demo_store,
)

SIZE = {"n_users": 300, "n_products": 150, "n_articles": 20, "days": 30}


@pytest.fixture(scope="module")
def store():
    return generate_demo_store(**SIZE, seed=7)


def test_same_seed_same_store_other_seed_other_store(store):
    again = generate_demo_store(**SIZE, seed=7)
    for name in ("user_ids", "item_ids", "values", "timestamps", "event_types"):
        np.testing.assert_array_equal(getattr(again.events, name), getattr(store.events, name))
    np.testing.assert_array_equal(again.items.titles, store.items.titles)
    np.testing.assert_array_equal(again.items.prices, store.items.prices)
    assert again.users.segments == store.users.segments
    other = generate_demo_store(**SIZE, seed=8)
    assert not np.array_equal(other.items.titles, store.items.titles)


def test_sizes_ids_and_attribute_vocabularies(store):
    users, items = store.users, store.items
    assert len(users) == 300 and len(items) == 170
    assert (items.kinds == "product").sum() == 150 and (items.kinds == "article").sum() == 20
    assert len(set(users.ids.tolist())) == 300 and len(set(items.ids.tolist())) == 170
    assert set(users.age_bands) <= set(AGE_BANDS)
    assert set(users.genders) <= set(GENDERS)
    assert set(users.locations) <= set(LOCATIONS)
    assert set(items.categories) <= set(CATEGORY_TREE)
    products = items.kinds == "product"
    assert (items.prices[products] > 0).all() and np.isnan(items.prices[~products]).all()
    # Prices end in .99, as a store prices them.
    np.testing.assert_allclose(np.round(items.prices[products] % 1, 2), 0.99)
    assert all(len(set(tastes)) == TASTES_PER_USER + 1 for tastes in users.tastes)


def test_events_are_sorted_inside_the_window_and_typed(store):
    events = store.events
    assert store.start == DEFAULT_START and store.end == DEFAULT_START + 30 * DAY
    assert (np.diff(events.timestamps) >= 0).all()
    assert events.timestamps.min() >= store.start and events.timestamps.max() < store.end
    assert set(events.event_types) == {"view", "add_to_cart", "purchase", "like", "share"}
    assert set(events.item_ids) <= set(store.items.ids)
    assert set(events.user_ids) <= set(store.users.ids)


def test_funnel_purchase_follows_cart_follows_view_in_the_same_session(store):
    events = store.events
    seen: dict[str, set] = {"view": set(), "add_to_cart": set()}
    steps = {"add_to_cart": "view", "purchase": "add_to_cart"}
    sessions = events.extra["session_ids"].tolist()
    for user, item, kind, session in zip(
        events.user_ids.tolist(),
        events.item_ids.tolist(),
        events.event_types.tolist(),
        sessions,
        strict=True,
    ):
        key = (user, item, session)
        if kind in steps:
            assert key in seen[steps[kind]], f"{kind} without a prior {steps[kind]}: {key}"
        if kind in seen:
            seen[kind].add(key)
    funnel = {kind: int((events.event_types == kind).sum()) for kind in steps | {"view": None}}
    assert funnel["view"] > funnel["add_to_cart"] > funnel["purchase"] > 0


def test_no_event_outside_an_item_availability_window(store):
    items, events = store.items, store.events
    row = {item_id: i for i, item_id in enumerate(items.ids.tolist())}
    rows = np.asarray([row[item_id] for item_id in events.item_ids.tolist()])
    opened, closed = items.available_from[rows], items.available_until[rows]
    assert ((opened < 0) | (events.timestamps >= opened)).all()
    # A session that starts before the close may run on past it for a while, not for hours.
    assert ((closed < 0) | (events.timestamps < closed + 6 * 3600)).all()
    assert (items.available_from >= 0).sum() > 0, "some products should launch in the window"


def test_purchases_concentrate_in_each_users_tastes(store):
    """The planted signal: far more purchases land in a user's taste categories than chance."""
    category = dict(zip(store.items.ids.tolist(), store.items.categories.tolist(), strict=True))
    tastes = dict(zip(store.users.ids.tolist(), store.users.tastes, strict=True))
    products = store.items.categories[store.items.kinds == "product"].tolist()
    share = {leaf: products.count(leaf) / len(products) for leaf in CATEGORY_TREE}
    bought = store.events.subset(store.events.event_types == "purchase")
    in_taste = [
        category[item] in tastes[user]
        for user, item in zip(bought.user_ids.tolist(), bought.item_ids.tolist(), strict=True)
    ]
    chance = [sum(share[leaf] for leaf in tastes[user]) for user in bought.user_ids.tolist()]
    assert len(in_taste) > 200
    assert np.mean(in_taste) > 2.5 * np.mean(chance)


def test_tastes_drift_toward_the_third_category(store):
    category = dict(zip(store.items.ids.tolist(), store.items.categories.tolist(), strict=True))
    tastes = dict(zip(store.users.ids.tolist(), store.users.tastes, strict=True))
    views = store.events.subset(
        (store.events.event_types == "view") & np.char.startswith(store.events.item_ids, "p")
    )
    in_drift_target = np.asarray(
        [
            category[item] == tastes[user][-1]
            for user, item in zip(views.user_ids.tolist(), views.item_ids.tolist(), strict=True)
        ]
    )
    third = (store.end - store.start) // 3
    early = in_drift_target[views.timestamps < store.start + third].mean()
    late = in_drift_target[views.timestamps >= store.end - third].mean()
    assert late > 1.5 * early


def test_popularity_is_skewed(store):
    views = store.events.item_ids[store.events.event_types == "view"]
    _, counts = np.unique(views[np.char.startswith(views, "p")], return_counts=True)
    top_tenth = np.sort(counts)[::-1][: len(counts) // 10].sum()
    assert top_tenth > 0.25 * counts.sum()  # 2.5 times their share under uniform choice


def test_segments_follow_behaviour(store):
    users = store.users
    purchases = store.events.user_ids[store.events.event_types == "purchase"].tolist()
    vip_counts = [
        purchases.count(u) for u, s in zip(users.ids, users.segments, strict=True) if "vip" in s
    ]
    others = [
        purchases.count(u) for u, s in zip(users.ids, users.segments, strict=True) if "vip" not in s
    ]
    assert vip_counts and min(vip_counts) > np.mean(others)
    newcomers = [
        t
        for t, s in zip(users.signup_timestamps, users.segments, strict=True)
        if "new_customer" in s
    ]
    assert newcomers and min(newcomers) > store.start


@pytest.mark.parametrize(
    ("argument", "value"),
    [("n_users", 0), ("n_products", 0), ("days", 0), ("n_articles", -1), ("sessions_per_week", 0)],
)
def test_bad_sizes_are_refused(argument, value):
    with pytest.raises(ValueError, match=argument):
        generate_demo_store(**{**SIZE, argument: value})
