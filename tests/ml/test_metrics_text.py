"""accuracy@1, recall@k and (normalised) precision@k for matching, against hand-computed cases."""

import numpy as np
import pytest

from ml.metrics.text import (
    accuracy_at_1,
    normalized_precision_at_k,
    precision_at_k,
    recall_at_k,
)

RANKED = np.array([[1, 2, 3], [2, 1, 3], [3, 2, 1]])
RELEVANT = [1, 1, {2, 3}]


def test_accuracy_at_1():
    assert accuracy_at_1(RANKED, RELEVANT) == pytest.approx(2 / 3)


def test_recall_at_k():
    assert recall_at_k(RANKED, RELEVANT, k=1) == pytest.approx((1 + 0 + 0.5) / 3)
    assert recall_at_k(RANKED, RELEVANT, k=2) == pytest.approx(1.0)


def test_precision_at_k():
    assert precision_at_k(RANKED, RELEVANT, k=2) == pytest.approx((0.5 + 0.5 + 1) / 3)
    assert precision_at_k(RANKED, RELEVANT, k=3) == pytest.approx((1 + 1 + 2) / 9)


def test_normalized_precision_at_k_divides_by_what_can_fit():
    # k=2: queries 0 and 1 have one relevant id and find it (1/1 each); query 2 finds both of
    # its two (2/2), where plain precision@2 gives 0.5, 0.5 and 1
    assert normalized_precision_at_k(RANKED, RELEVANT, k=2) == 1.0
    # k=1: hits 1, 0, 1, each over min(1, |relevant|) = 1
    assert normalized_precision_at_k(RANKED, RELEVANT, k=1) == pytest.approx(2 / 3)
    # three relevant ids, one of them in the top 3: 1 / min(3, 3)
    assert normalized_precision_at_k(np.array([[5, 6, 7, 9]]), [{6, 9, 10}], k=3) == (
        pytest.approx(1 / 3)
    )


def test_string_ids_are_single_answers_not_character_sets():
    ranked = np.array([["card_arrival", "ab"]])
    assert accuracy_at_1(ranked, ["card_arrival"]) == 1.0
    assert recall_at_k(ranked, ["ab"], k=1) == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: recall_at_k(RANKED, RELEVANT, k=4), r"k must be in \[1, 3\]"),
        (lambda: precision_at_k(RANKED, RELEVANT[:2], k=1), "one relevant entry per query"),
        (lambda: accuracy_at_1(np.array([1, 2]), [1, 2]), "2-D"),
        (lambda: recall_at_k(RANKED, [1, 1, set()], k=1), "at least one relevant"),
        (lambda: normalized_precision_at_k(RANKED, [1, set(), 2], k=1), "at least one relevant"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
