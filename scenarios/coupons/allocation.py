"""Which person gets which offer when every offer has a budget: greedy by gain per cost.

A coupon is paid for when redeemed, and people who would buy anyway redeem too, so the expected
cost of giving an offer is P(buy | offered) * cost per redemption and its expected gain is the
uplift P(buy | offered) - P(buy | not offered). Pairs with positive uplift are taken in
decreasing gain-per-cost order while the person has no offer yet and the offer's remaining
budget covers the pair's expected cost (a multiple-choice knapsack with one budget per offer,
solved greedily: n log n, optimal for one offer with equal costs, a heuristic otherwise).

Serving cannot see the whole audience at once, so training runs the allocation over the recent
audience and keeps, per offer whose budget ran out, the lowest ratio it still paid for (a
bid-price threshold): a request then gets the offers whose ratio for that person reaches the
offer's threshold. Pure
numpy: the benchmark uses it without Django.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BudgetAllocation:
    """``offer[p]``: the offer column given to person p (-1: none); money expected per offer."""

    offer: np.ndarray
    expected_cost: np.ndarray
    # Per offer, the lowest ratio paid for where the budget ran out (inf: it paid for nobody),
    # 0 where it never ran out.
    thresholds: np.ndarray


def gain_per_cost(uplift: np.ndarray, p_treated: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Expected incremental conversions per unit of money, [people, offers]."""
    expected_cost = np.maximum(p_treated, 1e-6) * cost
    return uplift / expected_cost


def allocate(
    uplift: np.ndarray, p_treated: np.ndarray, cost: np.ndarray, budget: np.ndarray
) -> BudgetAllocation:
    """Greedy allocation of at most one offer per person under per-offer budgets.

    ``uplift`` and ``p_treated`` are [people, offers]; ``cost`` (per redemption) and
    ``budget`` (money left) are [offers].
    """
    uplift = np.asarray(uplift, dtype=np.float64)
    p_treated = np.asarray(p_treated, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    budget = np.asarray(budget, dtype=np.float64)
    if uplift.ndim != 2 or uplift.shape != p_treated.shape:
        raise ValueError("uplift and p_treated must both be [people, offers]")
    if cost.shape != (uplift.shape[1],) or budget.shape != cost.shape:
        raise ValueError("cost and budget need one value per offer")
    if (cost <= 0).any() or (budget < 0).any():
        raise ValueError("costs must be positive and budgets non-negative")
    ratio = gain_per_cost(uplift, p_treated, cost)
    expected = np.maximum(p_treated, 1e-6) * cost
    people, offers = np.nonzero(uplift > 0)
    order = np.argsort(-ratio[people, offers], kind="stable")
    chosen = np.full(uplift.shape[0], -1, dtype=np.int64)
    left = budget.copy()
    lowest_paid = np.full(len(cost), np.inf)  # inf: the budget paid for nobody
    ran_out = np.zeros(len(cost), dtype=bool)
    for person, offer in zip(people[order].tolist(), offers[order].tolist(), strict=True):
        if chosen[person] >= 0 or ran_out[offer]:
            continue
        if expected[person, offer] > left[offer]:
            ran_out[offer] = True  # every later pair of this offer has a lower ratio
            continue
        chosen[person] = offer
        left[offer] -= expected[person, offer]
        lowest_paid[offer] = ratio[person, offer]
    return BudgetAllocation(chosen, budget - left, np.where(ran_out, lowest_paid, 0.0))
