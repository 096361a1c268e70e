"""Maximal marginal relevance, the re-ranking step the engine's diversify stage runs."""

from __future__ import annotations

import numpy as np
import pytest

from ml.rerank import mmr_order

# Items 0 and 1 are near duplicates; item 2 is different.
VECTORS = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]])
UNIT = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
SIMILARITY = UNIT @ UNIT.T
SCORES = np.array([1.0, 0.9, 0.5])


def test_mmr_without_diversity_keeps_the_model_order():
    assert mmr_order(SCORES, SIMILARITY, n=3, diversity=0.0) == [0, 1, 2]


def test_mmr_pushes_the_near_duplicate_down():
    # Scaled relevance [1, 0.8, 0]. After item 0: item 1 scores 0.5*0.8 - 0.5*~1 < 0 while
    # item 2 scores 0.5*0 - 0.5*0 = 0, so the different item comes second.
    assert mmr_order(SCORES, SIMILARITY, n=3, diversity=0.5) == [0, 2, 1]


def test_mmr_stops_at_the_candidates_and_ties_keep_order():
    assert mmr_order(SCORES, SIMILARITY, n=10, diversity=0.2) == [0, 1, 2]
    assert mmr_order(np.ones(3), np.eye(3), n=2, diversity=0.0) == [0, 1]
    assert mmr_order(np.zeros(0), np.zeros((0, 0)), n=3, diversity=0.5) == []


def test_mmr_refuses_bad_input():
    with pytest.raises(ValueError, match="diversity"):
        mmr_order(SCORES, SIMILARITY, n=3, diversity=1.5)
    with pytest.raises(ValueError, match="one row per candidate"):
        mmr_order(SCORES, SIMILARITY[:2], n=3, diversity=0.5)
    with pytest.raises(ValueError, match="n must"):
        mmr_order(SCORES, SIMILARITY, n=0, diversity=0.5)
