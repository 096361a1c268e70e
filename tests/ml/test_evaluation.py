"""The shared evaluation protocol, on a model whose lists are known in advance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from ml.base import Recommender
from ml.evaluation import (
    evaluate,
    fit_and_evaluate,
    markdown_table,
    parameter_grid,
    recommend_all,
    tune,
)


class FixedOrder(Recommender):
    """Scores items by a fixed ranking: item 0 best, or item 0 worst when ``reverse``."""

    name = "fixed_order_for_tests"

    @classmethod
    def default_params(cls):
        return {"reverse": False}

    def _fit(self, matrix, user_features, item_features, validation):
        self.fit_calls = getattr(self, "fit_calls", 0) + 1
        self.saw_validation = validation is not None

    def _score(self, users, user_items):
        scores = np.arange(self.n_items, 0, -1, dtype=np.float32)
        if self.params["reverse"]:
            scores = scores[::-1].copy()
        return np.tile(scores, (len(users), 1))


TRAIN = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0]], np.float32))
TEST = sp.csr_matrix(np.array([[0, 1, 0, 0, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], np.float32))


def test_evaluate_removes_seen_items_and_scores_test_users_only():
    model = FixedOrder().fit(TRAIN)
    results = evaluate(model, TRAIN, TEST, k=2)
    # User 0 (item 0 seen) gets [1, 2]: 1 hit of 2; user 1 (item 1 seen) gets [0, 2]: 1 of 1.
    # User 2 has nothing held out and is not evaluated.
    assert results["users"] == 2
    assert results["precision@2"] == pytest.approx(0.5)
    assert results["recall@2"] == pytest.approx((1 / 2 + 1) / 2)
    assert results["ndcg@2"] == pytest.approx((1 / (1 + 1 / math.log2(3)) + 1) / 2)
    assert results["map@2"] == pytest.approx((1 / 2 + 1) / 2)
    assert results["coverage@2"] == pytest.approx(3 / 5)  # items 0, 1, 2
    # Train popularity [1, 1, 1, 0, 0] over 3 interactions: every listed item has share 1/3.
    assert results["novelty@2"] == pytest.approx(math.log2(3))
    assert "diversity@2" not in results
    assert results["predict_seconds"] >= 0


def test_evaluate_adds_diversity_when_item_descriptions_are_given():
    model = FixedOrder().fit(TRAIN)
    categories = np.array(["a", "a", "b", "b", "c"])
    results = evaluate(model, TRAIN, TEST, k=2, item_categories=categories)
    # Lists [1, 2] and [0, 2] both mix two categories.
    assert results["diversity@2"] == pytest.approx(1.0)


def test_recommend_all_batches_give_the_same_lists():
    model = FixedOrder().fit(TRAIN)
    users = np.array([0, 1, 2])
    assert np.array_equal(
        recommend_all(model, users, TRAIN, k=3, batch_size=1),
        recommend_all(model, users, TRAIN, k=3, batch_size=100),
    )


def test_evaluate_refuses_mismatched_or_empty_test():
    model = FixedOrder().fit(TRAIN)
    with pytest.raises(ValueError, match="same shape"):
        evaluate(model, TRAIN, TEST[:, :4], k=2)
    with pytest.raises(ValueError, match="no held-out"):
        evaluate(model, TRAIN, sp.csr_matrix(TRAIN.shape), k=2)
    with pytest.raises(ValueError, match="scipy.sparse"):
        evaluate(model, TRAIN.toarray(), TEST, k=2)


def test_fit_and_evaluate_builds_from_a_factory_and_times_the_fit():
    row = fit_and_evaluate(FixedOrder, TRAIN, TEST, validation=TEST, k=2, name="fixed")
    assert row["model"] == "fixed"
    assert row["fit_seconds"] >= 0
    assert row["ndcg@2"] == pytest.approx((1 / (1 + 1 / math.log2(3)) + 1) / 2)

    model = FixedOrder()
    fit_and_evaluate(model, TRAIN, TEST, k=2)
    assert model.fitted and not model.saw_validation


def test_tune_picks_the_params_best_on_validation():
    # Reversed order ranks item 4 first: user 0's validation item 4 is hit at rank 1.
    validation = sp.csr_matrix(np.array([[0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0] * 5], np.float32))
    result = tune(FixedOrder, {"reverse": [False, True]}, TRAIN, validation, metric="ndcg@1")
    assert result.best_params == {"reverse": True}
    assert result.best_score == pytest.approx(0.5)
    assert [trial["score"] for trial in result.trials] == pytest.approx([0.0, 0.5])


def test_tune_budget_and_bad_metric():
    grid = {"reverse": [False, True]}
    assert len(tune(FixedOrder, grid, TRAIN, TEST, max_trials=1, metric="ndcg@2").trials) == 1
    with pytest.raises(ValueError, match="ndcg@10"):
        tune(FixedOrder, grid, TRAIN, TEST, metric="ndcg")
    with pytest.raises(ValueError, match="unknown metric"):
        tune(FixedOrder, grid, TRAIN, TEST, metric="auc@2")


def test_parameter_grid_is_the_full_product():
    grid = parameter_grid({"b": [1, 2], "a": ["x"]})
    assert grid == [{"a": "x", "b": 1}, {"a": "x", "b": 2}]
    with pytest.raises(ValueError, match="non-empty list"):
        parameter_grid({"a": []})


def test_markdown_table_formats_headers_and_numbers():
    rows = [
        {"model": "EASE", "ndcg@10": 0.48312, "fit_seconds": 1.5},
        {"model": "implicit ALS", "ndcg@10": 0.4, "fit_seconds": None},
    ]
    table = markdown_table(rows, ["model", "ndcg@10", ("fit_seconds", "train s")], digits=3)
    assert table.splitlines() == [
        "| model | NDCG@10 | train s |",
        "|---|---:|---:|",
        "| EASE | 0.483 | 1.500 |",
        "| implicit ALS | 0.400 |  |",
    ]


def test_evaluate_scores_a_fixed_sample_of_users_past_max_users():
    train = sp.random(400, 30, density=0.1, format="csr", random_state=1, dtype=np.float32)
    test = sp.random(400, 30, density=0.05, format="csr", random_state=2, dtype=np.float32)
    model = FixedOrder().fit(train)
    everyone = evaluate(model, train, test, k=5)
    sampled = evaluate(model, train, test, k=5, max_users=100)
    assert sampled["users"] == 100 < everyone["users"]
    again = evaluate(model, train, test, k=5, max_users=100)
    assert {k: v for k, v in again.items() if k != "predict_seconds"} == {
        k: v for k, v in sampled.items() if k != "predict_seconds"
    }  # the same users every call
    assert evaluate(model, train, test, k=5, max_users=10_000)["users"] == everyone["users"]
    assert abs(sampled["ndcg@5"] - everyone["ndcg@5"]) < 0.1  # a sample of the same users
