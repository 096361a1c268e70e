"""Metrics for probabilistic binary classifiers (CTR models): AUC, log loss and calibration.

A CTR model's scores feed bids and budgets, so it must rank well (AUC) *and* be calibrated
(a predicted 5 % should click 5 % of the time); expected calibration error and the reliability
table measure the second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def _check_binary(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_score = np.asarray(y_score, dtype=np.float64).reshape(-1)
    if y_true.shape != y_score.shape:
        raise ValueError(f"labels and scores differ in length: {y_true.shape} vs {y_score.shape}")
    if y_true.size == 0:
        raise ValueError("labels and scores must not be empty")
    if not np.isin(y_true, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(y_score).all():
        raise ValueError("scores contain NaN or infinite values")
    return y_true, y_score


def _check_probabilities(y_prob: np.ndarray) -> None:
    if ((y_prob < 0) | (y_prob > 1)).any():
        raise ValueError("probabilities must lie in [0, 1]")


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve: P(score of a random positive > a random negative), ties 1/2."""
    y_true, y_score = _check_binary(y_true, y_score)
    n_pos = int(y_true.sum())
    n_neg = y_true.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs at least one positive and one negative label")
    ranks = rankdata(y_score)  # average ranks give ties half credit (Mann-Whitney U)
    rank_sum_pos = ranks[y_true == 1].sum()
    return float((rank_sum_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y_true, y_prob, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy; probabilities are clipped to [eps, 1 - eps]."""
    y_true, y_prob = _check_binary(y_true, y_prob)
    _check_probabilities(y_prob)
    p = np.clip(y_prob, eps, 1 - eps)
    return float(-np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)))


@dataclass(frozen=True)
class ReliabilityTable:
    """Equal-width probability bins: how many predictions, their mean, and the observed rate."""

    bin_lower: np.ndarray
    bin_upper: np.ndarray
    count: np.ndarray
    mean_predicted: np.ndarray  # NaN for empty bins
    observed_rate: np.ndarray  # NaN for empty bins

    def to_markdown(self) -> str:
        lines = ["| bin | count | mean predicted | observed rate |", "| --- | ---: | ---: | ---: |"]
        for lo, hi, n, pred, obs in zip(
            self.bin_lower,
            self.bin_upper,
            self.count,
            self.mean_predicted,
            self.observed_rate,
            strict=True,
        ):
            lines.append(f"| [{lo:.2f}, {hi:.2f}) | {n} | {pred:.4f} | {obs:.4f} |")
        return "\n".join(lines)


def reliability_table(y_true, y_prob, n_bins: int = 10) -> ReliabilityTable:
    """Bin predictions into ``n_bins`` equal-width bins over [0, 1] (1.0 goes in the last bin)."""
    y_true, y_prob = _check_binary(y_true, y_prob)
    _check_probabilities(y_prob)
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.minimum((y_prob * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    prob_sum = np.bincount(bins, weights=y_prob, minlength=n_bins)
    label_sum = np.bincount(bins, weights=y_true, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.where(count > 0, prob_sum / count, np.nan)
        observed_rate = np.where(count > 0, label_sum / count, np.nan)
    return ReliabilityTable(edges[:-1], edges[1:], count, mean_predicted, observed_rate)


def expected_calibration_error(y_true, y_prob, n_bins: int = 10) -> float:
    """Count-weighted mean of |mean predicted - observed rate| over the reliability bins."""
    table = reliability_table(y_true, y_prob, n_bins)
    filled = table.count > 0
    gaps = np.abs(table.mean_predicted[filled] - table.observed_rate[filled])
    return float(np.sum(table.count[filled] * gaps) / table.count.sum())
