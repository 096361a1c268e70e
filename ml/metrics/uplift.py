"""Uplift metrics: the Qini curve, the Qini coefficient and uplift at the top k %.

They answer "if we target the people this model ranks first, how many *extra* responses do we
get compared with targeting at random?", measured on a randomized experiment (treatment flag).
"""

from __future__ import annotations

import numpy as np


def _check_uplift_inputs(y, treatment, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    treatment = np.asarray(treatment).reshape(-1)
    score = np.asarray(score, dtype=np.float64).reshape(-1)
    if not (y.shape == treatment.shape == score.shape):
        raise ValueError("outcome, treatment and score must have the same length")
    if y.size == 0:
        raise ValueError("outcome, treatment and score must not be empty")
    if not np.isin(treatment, (0, 1)).all():
        raise ValueError("treatment must be 0 (control) or 1 (treated)")
    if not np.isfinite(y).all() or not np.isfinite(score).all():
        raise ValueError("outcome and score must be finite")
    treatment = treatment.astype(bool)
    if treatment.all() or not treatment.any():
        raise ValueError("uplift metrics need both treated and control rows")
    return y, treatment, score


def qini_curve(y, treatment, score) -> tuple[np.ndarray, np.ndarray]:
    """Points (fraction targeted, incremental responses) when targeting by descending score.

    Incremental responses after the top t rows: Y_T(t) - Y_C(t) * N_T(t) / N_C(t) (Radcliffe),
    i.e. treated responses minus control responses rescaled to the treated count. Tied scores
    are taken as one block, so the curve does not depend on the order inside a tie. The curve
    starts at (0, 0).
    """
    y, treatment, score = _check_uplift_inputs(y, treatment, score)
    order = np.argsort(-score, kind="stable")
    y, treatment, score = y[order], treatment[order], score[order]
    n_treated = np.cumsum(treatment)
    n_control = np.cumsum(~treatment)
    y_treated = np.cumsum(y * treatment)
    y_control = np.cumsum(y * ~treatment)
    block_ends = np.r_[np.nonzero(np.diff(score))[0], score.size - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(n_control > 0, n_treated / np.maximum(n_control, 1), 0.0)
    incremental = y_treated - y_control * ratio
    x = np.r_[0.0, (block_ends + 1) / score.size]
    return x, np.r_[0.0, incremental[block_ends]]


def qini_coefficient(y, treatment, score, normalize: bool = True) -> float:
    """Area between the Qini curve and the random-targeting diagonal (trapezoids).

    ``normalize=False``: the area with incremental responses divided by the number of rows, so
    it is in "incremental responses per person" units. ``normalize=True`` (default): that area
    divided by the area of a perfect ranking of the same data (all treated responders first,
    all control responders last), as in scikit-uplift's ``qini_auc_score``; 1 is perfect, 0 is
    random, and negative is worse than random.
    """
    y, treatment, score = _check_uplift_inputs(y, treatment, score)
    area = _area_over_random(y, treatment, score)
    if not normalize:
        return area / y.size
    perfect_score = y * treatment - y * ~treatment
    perfect = _area_over_random(y, treatment, perfect_score)
    if perfect == 0:
        raise ValueError("the perfect Qini area is zero: no response difference to rank")
    return area / perfect


def _area_over_random(y, treatment, score) -> float:
    x, q = qini_curve(y, treatment, score)
    area = np.trapezoid(q, x)
    random_area = q[-1] / 2.0  # the diagonal from (0, 0) to (1, Q(all))
    return float(area - random_area)


def uplift_at_k(y, treatment, score, k: float = 0.3) -> float:
    """Response rate of treated minus control among the top ``k`` fraction of all rows.

    The top block is cut from the whole ranking (scikit-uplift's "overall" strategy); it must
    hold at least one treated and one control row.
    """
    y, treatment, score = _check_uplift_inputs(y, treatment, score)
    if not 0 < k <= 1:
        raise ValueError("k must be a fraction in (0, 1]")
    top = np.argsort(-score, kind="stable")[: max(1, int(np.ceil(k * y.size)))]
    treated, control = top[treatment[top]], top[~treatment[top]]
    if treated.size == 0 or control.size == 0:
        raise ValueError(f"the top {k:.0%} has no treated or no control rows")
    return float(y[treated].mean() - y[control].mean())
