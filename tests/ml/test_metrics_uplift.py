"""Qini curve, Qini coefficient and uplift@k against hand-computed cases."""

import numpy as np
import pytest

from ml.metrics.uplift import qini_coefficient, qini_curve, uplift_at_k

# Outcome, treatment and score of four people, ranked 0, 1, 2, 3 by the score.
Y = [1, 0, 1, 0]
T = [1, 1, 0, 0]
SCORE = [4, 3, 2, 1]


def test_qini_curve_by_hand():
    x, q = qini_curve(Y, T, SCORE)
    np.testing.assert_allclose(x, [0, 0.25, 0.5, 0.75, 1.0])
    # top 3: treated responses 1, control responses 1 rescaled by 2 treated / 1 control
    np.testing.assert_allclose(q, [0, 1, 1, -1, 0])


def test_qini_curve_treats_tied_scores_as_one_block():
    x, q = qini_curve(Y, T, [1, 1, 1, 1])
    np.testing.assert_allclose(x, [0, 1])
    np.testing.assert_allclose(q, [0, 0])


def test_qini_coefficient_by_hand():
    # trapezoids: 0.125 + 0.25 + 0 - 0.125 = 0.25; random line ends at 0 -> area 0
    assert qini_coefficient(Y, T, SCORE, normalize=False) == pytest.approx(0.25 / 4)
    # perfect ranking [1, 0, 0, -1] gives curve (0,0) (.25,1) (.75,1) (1,0): area 0.75
    assert qini_coefficient(Y, T, SCORE) == pytest.approx(0.25 / 0.75)


def test_qini_coefficient_perfect_and_reversed():
    perfect = np.array([1, 0, -1, 0])  # treated responder first, control responder last
    assert qini_coefficient(Y, T, perfect) == pytest.approx(1.0)
    assert qini_coefficient(Y, T, -perfect) < 0


def test_uplift_at_k_by_hand():
    y = [1, 0, 0, 1, 0, 0]
    t = [1, 0, 1, 0, 1, 0]
    score = [6, 5, 4, 3, 2, 1]
    # top 3: treated rows 0, 2 respond 1/2; control row 1 responds 0
    assert uplift_at_k(y, t, score, k=0.5) == pytest.approx(0.5)
    assert uplift_at_k(y, t, score, k=1.0) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: uplift_at_k(Y, T, SCORE, k=0.5), "no treated or no control"),
        (lambda: uplift_at_k(Y, T, SCORE, k=0), "fraction"),
        (lambda: qini_curve(Y, [1, 1, 1, 1], SCORE), "both treated and control"),
        (lambda: qini_curve(Y, [1, 2, 0, 0], SCORE), "0 \\(control\\) or 1"),
        (lambda: qini_curve(Y, T, SCORE[:3]), "same length"),
        (lambda: qini_curve([], [], []), "empty"),
        (lambda: qini_coefficient([0, 0, 0, 0], T, SCORE), "perfect Qini area is zero"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
