"""Splits: partition the log, respect per-user ratios and time order, reproducible by seed."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.data import Interactions
from ml.splits import (
    aligned_matrices,
    last_n_split,
    leave_one_out_split,
    split,
    stratified_split,
    stratified_split_matrix,
    temporal_split,
    validation_split,
)


def rows(log: Interactions) -> set[tuple[str, str, int]]:
    return set(
        zip(log.user_ids.tolist(), log.item_ids.tolist(), log.timestamps.tolist(), strict=True)
    )


def test_stratified_split_takes_rounded_ratio_of_each_user(small_interactions):
    train, test = stratified_split(small_interactions, ratio=0.75, seed=1)
    assert rows(train) | rows(test) == rows(small_interactions)
    assert not rows(train) & rows(test)
    train_counts, test_counts = Counter(train.user_ids), Counter(test.user_ids)
    for user in set(small_interactions.user_ids):
        assert train_counts[user] == 6  # round(0.75 * 8)
        assert test_counts[user] == 2


def test_stratified_split_rounds_half_to_even_like_recommenders():
    # 2 rows at 0.75 -> round(1.5) = 2 in train; 6 rows at 0.75 -> round(4.5) = 4 in train.
    users = ["a"] * 2 + ["b"] * 6
    log = Interactions(users, [f"i{i}" for i in range(8)], np.ones(8), np.arange(8))
    train, test = stratified_split(log, ratio=0.75, seed=0)
    assert Counter(train.user_ids) == {"a": 2, "b": 4}
    assert Counter(test.user_ids) == {"b": 2}


def test_stratified_split_is_reproducible_and_seed_dependent(small_interactions):
    first, _ = stratified_split(small_interactions, seed=7)
    again, _ = stratified_split(small_interactions, seed=7)
    other, _ = stratified_split(small_interactions, seed=8)
    assert rows(first) == rows(again)
    assert rows(first) != rows(other)


def test_stratified_split_keeps_small_users_in_train(small_interactions):
    log = small_interactions
    keep = (log.user_ids != "u0") | (np.arange(len(log)) < 3)  # u0 keeps 3 rows
    train, test = stratified_split(log.subset(keep), ratio=0.5, min_interactions=5)
    assert (train.user_ids == "u0").sum() == 3
    assert "u0" not in set(test.user_ids)


def test_temporal_split_puts_every_test_event_after_every_train_event(small_interactions):
    train, test = temporal_split(small_interactions, ratio=0.8)
    assert train.timestamps.max() < test.timestamps.min()
    assert len(train) == 256  # 320 events at distinct times, cutoff at the 256th
    assert len(train) + len(test) == len(small_interactions)


def test_temporal_split_never_separates_equal_timestamps():
    log = Interactions(["a"] * 4, ["x", "y", "z", "w"], np.ones(4), [1, 2, 2, 3])
    train, test = temporal_split(log, ratio=0.5)
    assert train.timestamps.tolist() == [1]
    assert sorted(test.timestamps.tolist()) == [2, 2, 3]
    with pytest.raises(ValueError, match="empty"):
        temporal_split(Interactions(["a", "b"], ["x", "y"], np.ones(2), [5, 5]))


def test_last_n_split_takes_latest_events_per_user():
    log = Interactions(
        ["a", "a", "a", "a", "b", "b", "c"],
        ["i1", "i2", "i3", "i4", "i1", "i2", "i1"],
        np.ones(7),
        [40, 10, 30, 20, 5, 6, 1],
    )
    train, test = last_n_split(log, n=2)
    assert sorted(zip(test.user_ids, test.item_ids, strict=True)) == [("a", "i1"), ("a", "i3")]
    # b has 2 events: test would leave no history, so it stays in train; so does c.
    assert Counter(train.user_ids) == {"a": 2, "b": 2, "c": 1}


def test_leave_one_out_holds_out_last_event_or_random_without_time(small_interactions):
    train, test = leave_one_out_split(small_interactions)
    assert Counter(test.user_ids) == dict.fromkeys(set(small_interactions.user_ids), 1)
    for user, time in zip(test.user_ids, test.timestamps, strict=True):
        assert time == small_interactions.timestamps[small_interactions.user_ids == user].max()

    untimed = Interactions(
        small_interactions.user_ids,
        small_interactions.item_ids,
        small_interactions.values,
        np.zeros(len(small_interactions)),
    )
    held_out = [rows(leave_one_out_split(untimed, seed=seed)[1]) for seed in (0, 1, 0)]
    assert held_out[0] == held_out[2]
    assert held_out[0] != held_out[1]
    assert len(held_out[0]) == 40


def test_split_dispatch_and_validation_carved_from_train(small_interactions):
    train, test = split(small_interactions, "stratified", ratio=0.75, seed=3)
    inner, validation = validation_split(train, "stratified", ratio=0.75, seed=3)
    assert rows(inner) | rows(validation) == rows(train)
    assert not (rows(validation) & rows(test))
    with pytest.raises(ValueError, match="unknown split method"):
        split(small_interactions, "by_moon_phase")


@pytest.mark.parametrize("ratio", [0.0, 1.0, 1.5, -0.1])
def test_bad_ratio_is_refused(small_interactions, ratio):
    with pytest.raises(ValueError, match="ratio"):
        stratified_split(small_interactions, ratio=ratio)


def test_empty_log_is_refused():
    empty = Interactions([], [], [], [])
    with pytest.raises(ValueError, match="empty"):
        stratified_split(empty)


def test_aligned_matrices_share_train_ids_and_drop_unknown_test_rows():
    train = Interactions(["a", "a", "b"], ["x", "y", "x"], [1, 2, 3], [1, 2, 3])
    test = Interactions(["a", "b", "c", "b"], ["z", "y", "x", "x"], [1, 1, 1, 4], [4, 5, 6, 7])
    aligned = aligned_matrices(train, test)
    assert aligned.users.ids.tolist() == ["a", "b"]
    assert aligned.items.ids.tolist() == ["x", "y"]
    assert aligned.train.toarray().tolist() == [[1, 2], [3, 0]]
    # ("a", "z") has an unknown item, ("c", "x") an unknown user: both dropped.
    assert aligned.test.toarray().tolist() == [[0, 0], [4, 1]]


def test_stratified_split_matrix_partitions_each_row():
    matrix = sp.random(30, 20, density=0.4, format="csr", random_state=0, dtype=np.float32)
    train, test = stratified_split_matrix(matrix, ratio=0.75, seed=5)
    assert train.shape == test.shape == matrix.shape
    assert abs(train + test - matrix).max() == 0
    assert train.multiply(test).nnz == 0
    row_sizes = np.diff(matrix.indptr)
    assert np.array_equal(np.diff(train.indptr), np.round(0.75 * row_sizes))


@settings(max_examples=30, deadline=None)
@given(
    users=st.lists(st.integers(0, 5), min_size=1, max_size=60),
    ratio=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**16),
)
def test_stratified_split_always_partitions(users, ratio, seed):
    n = len(users)
    log = Interactions([f"u{u}" for u in users], [f"i{i}" for i in range(n)], np.ones(n), range(n))
    train, test = stratified_split(log, ratio=ratio, seed=seed)
    assert sorted(train.item_ids.tolist() + test.item_ids.tolist()) == sorted(log.item_ids)
    assert set(test.user_ids) <= set(train.user_ids)


def test_aligned_matrices_can_keep_cold_test_items_relevant():
    train = Interactions(["a", "a", "b"], ["x", "y", "x"], [1, 2, 3], [1, 2, 3])
    test = Interactions(["a", "b", "c"], ["z", "y", "x"], [1, 1, 1], [4, 5, 6])
    aligned = aligned_matrices(train, test, binary=True, cold_items=True)
    assert aligned.items.ids.tolist() == ["x", "y", "z"]
    assert aligned.train.toarray().tolist() == [[1, 1, 0], [1, 0, 0]]
    assert aligned.test.toarray().tolist() == [[0, 0, 1], [0, 1, 0]]  # user c still dropped


@settings(max_examples=30, deadline=None)
@given(
    events=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5)), min_size=2, max_size=50),
    n=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_last_n_split_partitions_and_respects_time(events, n, seed):
    users = [f"u{user}" for user, _ in events]
    times = [time for _, time in events]
    log = Interactions(users, [f"i{i}" for i in range(len(events))], np.ones(len(events)), times)
    train, test = last_n_split(log, n=n, seed=seed)
    assert sorted(train.item_ids.tolist() + test.item_ids.tolist()) == sorted(log.item_ids)
    for user in set(test.user_ids):
        held_out = test.timestamps[test.user_ids == user]
        kept = train.timestamps[train.user_ids == user]
        assert len(held_out) == n and len(kept) >= 1
        assert kept.max() <= held_out.min()
