"""One contract every registered top-N Recommender must keep, whatever its family.

Fit on a small deterministic data set; then: save/load gives identical output, lists are sorted
and unique, seen and excluded items never come back, users unknown at fit time (-1) still get a
list, bad input is refused with a ValueError, and training history is recorded and plotted.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import scipy.sparse as sp

import ml.models  # noqa: F401  (registers every model)
from ml.base import MODEL_REGISTRY, Model, Recommender

# Small settings so the TensorFlow models train in a second or two on a shared machine.
FAST_PARAMS = {
    "bpr": {"factors": 8, "epochs": 3, "batch_size": 64},
    "two_tower": {"dim": 8, "epochs": 3, "batch_size": 32},
    "neumf": {"gmf_dim": 4, "mlp_dim": 8, "epochs": 3, "batch_size": 128},
    "ensemble": {
        "members": [["ease", {"l2": 10.0}], ["itemknn", {}], ["popularity", {}]],
        "weights": [1.0, 0.5, 0.1],
    },
}

RECOMMENDERS = sorted(name for name, cls in MODEL_REGISTRY.items() if issubclass(cls, Recommender))
N_USERS, N_ITEMS = 30, 24


def contract_data() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Two taste groups (even users like the first half of items) plus a few random extras."""
    rng = np.random.default_rng(7)
    train = np.zeros((N_USERS, N_ITEMS), np.float32)
    for user in range(N_USERS):
        liked = np.arange(12) if user % 2 == 0 else np.arange(12, 24)
        train[user, rng.choice(liked, 6, replace=False)] = 1.0
        train[user, rng.integers(0, N_ITEMS)] = 1.0
    validation = np.zeros_like(train)
    for user in range(N_USERS):
        liked = np.arange(12) if user % 2 == 0 else np.arange(12, 24)
        unseen = [item for item in liked if train[user, item] == 0]
        validation[user, unseen[:2]] = 1.0
    return sp.csr_matrix(train), sp.csr_matrix(validation)


def build(name: str) -> Recommender:
    return MODEL_REGISTRY[name](**FAST_PARAMS.get(name, {}))


@cache
def fitted(name: str) -> Recommender:
    """Each model is fitted once per session; tests must not mutate it."""
    train, validation = contract_data()
    return build(name).fit(train, validation=validation)


@pytest.fixture(params=RECOMMENDERS)
def name(request) -> str:
    return request.param


def test_every_model_family_is_registered():
    expected = {"popularity", "itemknn", "ease", "rp3beta", "als", "bpr", "two_tower", "neumf"}
    expected |= {"seqknn", "ensemble"}
    assert expected <= set(RECOMMENDERS)


def test_save_load_round_trip_gives_identical_recommendations(name, tmp_path):
    model = fitted(name)
    train, _ = contract_data()
    users = np.array([0, 1, 5, -1, -1])
    rows = sp.vstack([train[[0, 1, 5]], train[[2]], sp.csr_matrix((1, N_ITEMS))]).tocsr()
    before = model.recommend(users, rows, n=5)
    loaded = Model.load(model.save(tmp_path / name))
    after = loaded.recommend(users, rows, n=5)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert loaded.history.to_dict() == model.history.to_dict()


def test_lists_are_sorted_unique_and_skip_seen_and_excluded(name):
    model = fitted(name)
    train, _ = contract_data()
    users = np.arange(N_USERS)
    exclude = [[(user + 3) % N_ITEMS, (user + 4) % N_ITEMS] for user in users]
    ids, scores = model.recommend(users, train, n=8, exclude=exclude)
    assert ids.shape == scores.shape == (N_USERS, 8)
    assert np.all(np.diff(scores, axis=1) <= 0)
    for user in users:
        row = ids[user][ids[user] >= 0]
        assert len(set(row.tolist())) == len(row)
        assert not set(row.tolist()) & set(train[user].indices.tolist())
        assert not set(row.tolist()) & set(exclude[user])
    # Every user has 17+ unseen, non-excluded items, so all 8 slots are filled.
    assert (ids >= 0).all()


def test_seen_items_come_back_only_when_asked(name):
    model = fitted(name)
    train, _ = contract_data()
    ids, _ = model.recommend(np.arange(N_USERS), train, n=N_ITEMS, filter_seen=False)
    assert set(ids[0].tolist()) == set(range(N_ITEMS))


def test_candidate_restriction_is_respected(name):
    model = fitted(name)
    train, _ = contract_data()
    allowed = np.array([1, 3, 5, 20])
    ids, _ = model.recommend(np.arange(4), train[:4], n=6, items=allowed, filter_seen=False)
    assert set(ids[ids >= 0].tolist()) <= set(allowed.tolist())
    assert (ids[:, 4:] == -1).all()


def test_unknown_users_get_full_lists_from_history_or_popularity(name):
    model = fitted(name)
    train, _ = contract_data()
    rows = sp.vstack([train[[4]], sp.csr_matrix((1, N_ITEMS))]).tocsr()
    ids, scores = model.recommend(np.array([-1, -1]), rows, n=5)
    assert (ids >= 0).all() and np.isfinite(scores).all()
    assert not set(ids[0].tolist()) & set(train[4].indices.tolist())


def test_history_is_recorded_and_plotted(name, tmp_path):
    model = fitted(name)
    assert len(model.history) >= 1
    assert len(model.history.series["val_ndcg@10"]) == len(model.history)
    assert all(0.0 <= value <= 1.0 for value in model.history.series["val_ndcg@10"])
    png = model.history.plot(tmp_path / "history.png", title=name)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_model(name):
    train, validation = contract_data()
    again = build(name).fit(train, validation=validation)
    np.testing.assert_array_equal(
        again.recommend(np.arange(6), train[:6], n=5)[0],
        fitted(name).recommend(np.arange(6), train[:6], n=5)[0],
    )


def test_similar_items_exclude_the_item_and_are_sorted(name):
    model = fitted(name)
    try:
        ids, scores = model.similar_items([0, 13], n=4)
    except NotImplementedError:
        pytest.skip(f"{name} has no item similarity")
    assert 0 not in ids[0] and 13 not in ids[1]
    assert np.all(np.diff(scores, axis=1) <= 0)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.ones((3, 4)), "scipy.sparse"),
        (sp.csr_matrix((3, 4)), "no non-zero"),
        (sp.csr_matrix(np.array([[1.0, -1.0]])), "negative"),
        (sp.csr_matrix(np.array([[1.0, np.nan]])), "NaN"),
    ],
)
def test_bad_training_input_is_refused(name, matrix, message):
    with pytest.raises(ValueError, match=message):
        build(name).fit(matrix)


def test_bad_requests_are_refused(name):
    model = fitted(name)
    train, _ = contract_data()
    with pytest.raises(ValueError, match="user_items must have shape"):
        model.recommend([0, 1], train[:1])
    with pytest.raises(ValueError, match="user indices"):
        model.recommend([N_USERS], train[:1])
    with pytest.raises(ValueError, match="exclude"):
        model.recommend([0], train[:1], exclude=[[N_ITEMS]])
    with pytest.raises(ValueError, match="n must be"):
        model.recommend([0], train[:1], n=0)
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        MODEL_REGISTRY[name](no_such_param=1)


def test_unfitted_model_refuses_to_recommend(name):
    with pytest.raises(ValueError, match="fit"):
        build(name).recommend([0], sp.csr_matrix((1, N_ITEMS)))
