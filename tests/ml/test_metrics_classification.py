"""AUC, log loss and calibration against hand-computed cases."""

import math

import numpy as np
import pytest

from ml.metrics.classification import (
    expected_calibration_error,
    log_loss,
    reliability_table,
    roc_auc,
)


def test_auc_counts_correctly_ordered_pairs():
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ordered correctly
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_auc_gives_ties_half_credit_and_perfect_ranking_one():
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert roc_auc([0, 0, 1], [0.1, 0.2, 0.9]) == pytest.approx(1.0)
    assert roc_auc([1, 0], [0.1, 0.9]) == pytest.approx(0.0)


def test_log_loss_matches_hand_computation():
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert log_loss([1, 0], [0.8, 0.4]) == pytest.approx(expected)


def test_log_loss_clips_certain_mistakes():
    assert np.isfinite(log_loss([1], [0.0]))
    assert log_loss([1], [0.0]) == pytest.approx(-math.log(1e-15))


def test_reliability_table_and_ece():
    y = [0, 1, 1, 1]
    p = [0.1, 0.2, 0.8, 0.9]
    table = reliability_table(y, p, n_bins=2)
    np.testing.assert_array_equal(table.count, [2, 2])
    np.testing.assert_allclose(table.mean_predicted, [0.15, 0.85])
    np.testing.assert_allclose(table.observed_rate, [0.5, 1.0])
    # 0.5 * |0.15 - 0.5| + 0.5 * |0.85 - 1.0|
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.25)
    assert "| [0.50, 1.00) | 2 | 0.8500 | 1.0000 |" in table.to_markdown()


def test_reliability_table_puts_one_in_last_bin_and_marks_empty_bins():
    table = reliability_table([1, 0], [1.0, 0.0], n_bins=4)
    np.testing.assert_array_equal(table.count, [1, 0, 0, 1])
    assert np.isnan(table.mean_predicted[1])
    assert expected_calibration_error([1, 0], [1.0, 0.0], n_bins=4) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: roc_auc([1, 1], [0.2, 0.3]), "at least one positive and one negative"),
        (lambda: roc_auc([0, 1], [0.2]), "differ in length"),
        (lambda: roc_auc([0, 2], [0.2, 0.3]), "0 or 1"),
        (lambda: roc_auc([], []), "empty"),
        (lambda: log_loss([0, 1], [0.2, 1.5]), r"\[0, 1\]"),
        (lambda: log_loss([0, 1], [0.2, np.nan]), "NaN"),
        (lambda: reliability_table([0, 1], [0.2, 0.3], n_bins=0), "n_bins"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
