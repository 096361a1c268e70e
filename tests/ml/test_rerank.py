"""Re-ranking (MMR, epsilon-greedy, Thompson sampling) and the catalog filter masks."""

from __future__ import annotations

import numpy as np
import pytest

from ml.rerank import (
    allowed_items,
    apply_mask,
    availability_mask,
    category_prefix_mask,
    epsilon_greedy,
    exclude_mask,
    maximal_marginal_relevance,
    price_range_mask,
    thompson_sampling,
)

# Items 0 and 1 are near duplicates; item 2 is different; item 3 is not a candidate.
VECTORS = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.5, 0.5]])
IDS = np.array([[0, 1, 2, -1]])
SCORES = np.array([[1.0, 0.9, 0.5, -np.inf]])


def test_mmr_without_diversity_keeps_the_model_order():
    ids, scores = maximal_marginal_relevance(IDS, SCORES, VECTORS, n=3, diversity=0.0)
    assert ids.tolist() == [[0, 1, 2]]
    assert scores[0].tolist() == pytest.approx([1.0, 0.9, 0.5])


def test_mmr_pushes_the_near_duplicate_down():
    # Scaled relevance [1, 0.8, 0]. After item 0: item 1 scores 0.5*0.8 - 0.5*~1 < 0 while
    # item 2 scores 0.5*0 - 0.5*0 = 0, so the different item comes second.
    ids, scores = maximal_marginal_relevance(IDS, SCORES, VECTORS, n=4, diversity=0.5)
    assert ids.tolist() == [[0, 2, 1, -1]]
    assert scores[0, :3].tolist() == pytest.approx([1.0, 0.5, 0.9])
    assert np.isneginf(scores[0, 3])


def test_mmr_refuses_bad_input():
    with pytest.raises(ValueError, match="diversity"):
        maximal_marginal_relevance(IDS, SCORES, VECTORS, diversity=1.5)
    with pytest.raises(ValueError, match="every candidate"):
        maximal_marginal_relevance(IDS, SCORES, VECTORS[:2])
    with pytest.raises(ValueError, match="shape"):
        maximal_marginal_relevance(IDS, SCORES[:, :2], VECTORS)


def test_epsilon_greedy_bounds():
    ids = np.tile(np.arange(20), (50, 1))
    scores = np.tile(np.linspace(1, 0, 20), (50, 1))
    kept, _, explored = epsilon_greedy(ids, scores, n=5, epsilon=0.0, seed=0)
    assert (kept == np.arange(5)).all() and not explored.any()
    swapped, swapped_scores, explored = epsilon_greedy(ids, scores, n=5, epsilon=1.0, seed=0)
    assert explored.all()
    assert (swapped >= 5).all()  # every slot drawn from beyond the top 5
    assert all(len(set(row)) == 5 for row in swapped.tolist())
    assert np.allclose(swapped_scores, np.linspace(1, 0, 20)[swapped])


def test_epsilon_greedy_is_seeded_and_explores_about_epsilon():
    ids = np.tile(np.arange(30), (400, 1))
    scores = -np.tile(np.arange(30.0), (400, 1))
    first = epsilon_greedy(ids, scores, n=10, epsilon=0.2, seed=3)
    again = epsilon_greedy(ids, scores, n=10, epsilon=0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert 0.17 < first[2].mean() < 0.23  # 4000 slots, each explored with probability 0.2
    unexplored = first[0][~first[2]]
    assert (unexplored < 10).all()


def test_thompson_sampling_follows_evidence_and_explores_uncertain_items():
    successes = np.array([1000.0, 0.0, 400.0, 0.0])
    failures = np.array([0.0, 1000.0, 600.0, 0.0])
    ids, sampled = thompson_sampling([[1, 0, -1]], successes, failures, n=3, seed=0)
    assert ids.tolist() == [[0, 1, -1]]
    assert sampled[0, 0] > 0.99 and sampled[0, 1] < 0.01
    # Item 3 has no feedback (posterior = uniform prior): it beats item 2 (rate ~0.4) about
    # P(U > 0.4) = 0.6 of the time.
    ids, _ = thompson_sampling(np.tile([2, 3], (4000, 1)), successes, failures, n=1, seed=1)
    assert 0.56 < (ids[:, 0] == 3).mean() < 0.64
    again, _ = thompson_sampling(np.tile([2, 3], (4000, 1)), successes, failures, n=1, seed=1)
    assert np.array_equal(ids, again)


def test_thompson_sampling_refuses_bad_counts():
    with pytest.raises(ValueError, match="same length"):
        thompson_sampling([[0]], np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        thompson_sampling([[0]], -np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="every candidate"):
        thompson_sampling([[5]], np.ones(2), np.ones(2))


def test_category_prefix_matches_whole_levels():
    categories = np.array(
        ["electronics.smartphone", "electronics", "electronicsx.cable", "", "appliances.kitchen"]
    )
    assert category_prefix_mask(categories, "electronics").tolist() == [1, 1, 0, 0, 0]
    assert category_prefix_mask(categories, "electronics.smartphone.").tolist() == [1, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="empty"):
        category_prefix_mask(categories, ".")


def test_price_availability_and_exclusion_masks_combine():
    prices = np.array([5.0, 10.0, np.nan, 25.0, 30.0])
    assert price_range_mask(prices, 10, 25).tolist() == [0, 1, 0, 1, 0]
    assert price_range_mask(prices, low=26).tolist() == [0, 0, 0, 0, 1]
    with pytest.raises(ValueError, match="empty"):
        price_range_mask(prices, 30, 10)
    stock = availability_mask(np.array([3, 0, 1, 1, 0]))
    mask = price_range_mask(prices, high=30) & stock & exclude_mask(5, [3])
    assert allowed_items(mask).tolist() == [0]
    with pytest.raises(ValueError, match="excluded item indices"):
        exclude_mask(5, [5])


def test_apply_mask_per_item_and_per_user():
    scores = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    per_item = apply_mask(scores, np.array([True, False, True]))
    assert per_item.tolist() == [[1.0, -np.inf, 3.0], [4.0, -np.inf, 6.0]]
    per_user = apply_mask(scores, np.array([[True, True, False], [False, True, True]]))
    assert per_user.tolist() == [[1.0, 2.0, -np.inf], [-np.inf, 5.0, 6.0]]
    assert scores[0, 2] == 3.0  # input untouched
    with pytest.raises(ValueError, match="mask shape"):
        apply_mask(scores, np.ones(4, dtype=bool))
