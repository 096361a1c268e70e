"""Ranking metrics against hand-computed values (binary relevance, recommenders' definitions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.metrics.ranking import (
    hit_rate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    per_user_ranking_metrics,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)

RECOMMENDED = np.array(
    [
        [1, 2, 3, 4],  # hits at ranks 2 and 4 of 3 relevant
        [5, -1, -1, -1],  # one hit at rank 1, the only relevant item; list padded
        [1, 2, 3, 4],  # no relevant items: excluded from every mean
        [9, 8, 7, 6],  # relevant item never recommended
    ]
)
RELEVANT = [{2, 4, 7}, {5}, set(), {0}]

# Per-user values computed by hand for the three evaluated users.
NDCG_FIRST = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
EXPECTED = {
    "precision@4": (2 / 4 + 1 / 4 + 0) / 3,
    "recall@4": (2 / 3 + 1 + 0) / 3,
    "ndcg@4": (NDCG_FIRST + 1 + 0) / 3,
    "map@4": ((1 / 2 + 2 / 4) / 3 + 1 + 0) / 3,
    "hit_rate@4": 2 / 3,
    "mrr@4": (1 / 2 + 1 + 0) / 3,
}


def test_all_metrics_match_hand_computed_values():
    assert ranking_metrics(RECOMMENDED, RELEVANT, k=4) == pytest.approx(EXPECTED)


def test_single_metric_functions_agree():
    singles = {
        "precision@4": precision_at_k,
        "recall@4": recall_at_k,
        "ndcg@4": ndcg_at_k,
        "map@4": map_at_k,
        "hit_rate@4": hit_rate_at_k,
        "mrr@4": mrr_at_k,
    }
    for name, function in singles.items():
        assert function(RECOMMENDED, RELEVANT, k=4) == pytest.approx(EXPECTED[name])


def test_sparse_relevance_gives_the_same_numbers():
    rows = [0, 0, 0, 1, 3]
    cols = [2, 4, 7, 5, 0]
    matrix = sp.csr_matrix((np.ones(5), (rows, cols)), shape=(4, 12))
    assert ranking_metrics(RECOMMENDED, matrix, k=4) == pytest.approx(EXPECTED)


def test_cutoff_uses_only_the_first_k_columns():
    # At k=2 user 0 has one hit (rank 2) of 3 relevant; the ideal DCG has 2 hits.
    per_user = per_user_ranking_metrics(RECOMMENDED, RELEVANT, k=2)
    assert per_user["precision"][0] == pytest.approx(1 / 2)
    assert per_user["recall"][0] == pytest.approx(1 / 3)
    assert per_user["ndcg"][0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert per_user["map"][0] == pytest.approx((1 / 2) / 3)
    assert len(per_user["map"]) == 3


def test_k_larger_than_the_lists_counts_as_padding():
    metrics = ranking_metrics([[3, 1]], [{1, 2}], k=4)
    assert metrics["precision@4"] == pytest.approx(1 / 4)
    assert metrics["recall@4"] == pytest.approx(1 / 2)
    assert metrics["ndcg@4"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_perfect_list_scores_one_everywhere():
    metrics = ranking_metrics([[4, 2, 9]], [{2, 4, 9}], k=3)
    names = ["precision@3", "recall@3", "ndcg@3", "map@3", "hit_rate@3", "mrr@3"]
    assert metrics == pytest.approx(dict.fromkeys(names, 1.0))


@pytest.mark.parametrize(
    ("recommended", "relevant", "message"),
    [
        ([[1, 1, 2]], [{1}], "repeats"),
        ([[1, -2]], [{1}], "-1 for padding"),
        ([1, 2, 3], [{1}], "2-D"),
        ([[1, 2]], [{1}, {2}], "users"),
        ([[1, 2]], [set()], "no user has a relevant item"),
    ],
)
def test_bad_input_is_refused(recommended, relevant, message):
    with pytest.raises(ValueError, match=message):
        ranking_metrics(recommended, relevant, k=2)


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="k must be at least 1"):
        ranking_metrics([[1]], [{1}], k=0)


@settings(max_examples=50, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.lists(st.integers(0, 15), max_size=6, unique=True),
            st.sets(st.integers(0, 15), min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=8,
    ),
    k=st.integers(1, 6),
)
def test_metrics_stay_in_unit_interval_and_are_ordered(data, k):
    recommended = np.full((len(data), 6), -1)
    for row, (items, _) in enumerate(data):
        recommended[row, : len(items)] = items
    relevant = [rel for _, rel in data]
    metrics = ranking_metrics(recommended, relevant, k=k)
    for value in metrics.values():
        assert 0.0 <= value <= 1.0 + 1e-12
    # Per user MRR <= HitRate and MAP <= Recall, hence for the means too.
    assert metrics[f"mrr@{k}"] <= metrics[f"hit_rate@{k}"] + 1e-12
    assert metrics[f"map@{k}"] <= metrics[f"recall@{k}"] + 1e-12
