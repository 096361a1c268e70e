"""Coverage, intra-list diversity and novelty against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from ml.metrics.beyond import catalog_coverage, intra_list_diversity, item_popularity, novelty


def test_catalog_coverage_counts_distinct_items_ignoring_padding():
    assert catalog_coverage([[0, 1, -1], [1, 2, -1]], n_items=10) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="below n_items"):
        catalog_coverage([[0, 10]], n_items=10)


def test_diversity_by_category_overlap():
    categories = np.array(["a", "a", "b", "c"])
    # [0, 1, 2]: 2 of 6 ordered pairs share a category -> 1 - 1/3; [0, 1]: all alike -> 0;
    # [3] alone has no pair and is skipped.
    lists = [[0, 1, 2], [0, 1, -1], [3, -1, -1]]
    assert intra_list_diversity(lists, item_categories=categories) == pytest.approx((2 / 3) / 2)


def test_diversity_by_cosine_of_vectors():
    vectors = np.array([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    mean_cosine = (0 + 2 / math.sqrt(2)) / 3
    assert intra_list_diversity([[0, 1, 2]], item_vectors=vectors) == pytest.approx(
        1 - mean_cosine, abs=1e-6
    )
    assert intra_list_diversity([[0, 1]], item_vectors=vectors) == pytest.approx(1.0)


def test_diversity_needs_exactly_one_item_description():
    with pytest.raises(ValueError, match="exactly one"):
        intra_list_diversity([[0, 1]])
    assert math.isnan(intra_list_diversity([[0, -1]], item_categories=np.array(["a", "b"])))


def test_novelty_is_mean_self_information_of_popularity_share():
    train = sp.csr_matrix(
        np.array(
            [[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]]
        )
    )
    popularity = item_popularity(train)
    assert popularity.tolist() == [6, 2, 0, 0]
    # shares 6/8, 2/8, and the cold item 2 counted once: 1/8.
    expected = (-math.log2(6 / 8) + -math.log2(2 / 8) + -math.log2(1 / 8)) / 3
    assert novelty([[0, 1], [2, -1]], popularity) == pytest.approx(expected)


def test_novelty_refuses_bad_popularity_and_empty_lists():
    with pytest.raises(ValueError, match="popularity"):
        novelty([[0]], np.zeros(3))
    with pytest.raises(ValueError, match="no recommended item"):
        novelty([[-1, -1]], np.ones(3))
