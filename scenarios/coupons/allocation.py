"""Which person gets which offer when every offer has a budget.

A coupon is paid for when redeemed, and people who would buy anyway redeem too, so the expected
cost of giving an offer is P(buy | offered) * cost per redemption and its expected gain is the
uplift P(buy | offered) - P(buy | not offered). Choosing at most one offer per person so that
the expected gain is largest while each offer's expected spend stays within its budget is a
multiple-choice knapsack with one budget per offer. Two methods:

- ``linear_program`` (the default): its LP relaxation solved by HiGHS (scipy). At most one
  person per offer budget is fractional at a vertex; those are given the offer only if it
  still fits. The budgets' dual values are each offer's price per unit of expected spend.
- ``greedy``: pairs by decreasing gain per cost while the budget lasts (n log n, no solver:
  for audiences too large for the LP). It gives each person their best ratio, which wastes
  budget on cheap, weak offers when a dearer offer would buy more per person.

Serving cannot see the whole audience at once, so training runs the allocation over the recent
audience and keeps a price per offer; a request then gets the offers whose net value, uplift -
price * expected cost, is positive, best first. With the LP's dual prices this rule is the LP's
own choice (complementary slackness); with greedy the price is the lowest ratio the offer still
paid for where its budget ran out. Pure numpy and scipy: the benchmark uses it without Django.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("linear_program", "greedy")


@dataclass(frozen=True)
class BudgetAllocation:
    """``offer[p]``: the offer column given to person p (-1: none); money expected per offer;
    each offer's price per unit of expected spend (0 where its budget does not bind, inf where
    it paid for nobody)."""

    offer: np.ndarray
    expected_cost: np.ndarray
    prices: np.ndarray


def gain_per_cost(uplift: np.ndarray, p_treated: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Expected incremental conversions per unit of money, [people, offers]."""
    return uplift / expected_cost(p_treated, cost)


def expected_cost(p_treated: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """What giving each offer is expected to spend: P(redeem) * cost, [people, offers]."""
    return np.maximum(p_treated, 1e-6) * cost


def net_value(uplift: np.ndarray, p_treated: np.ndarray, cost: np.ndarray, prices) -> np.ndarray:
    """Uplift less the offer's price of its expected spend, [people, offers]; -inf where the
    offer paid for nobody (an infinite price)."""
    spend = expected_cost(p_treated, cost)
    with np.errstate(invalid="ignore"):
        value = uplift - np.asarray(prices) * spend
    return np.where(np.isfinite(value), value, -np.inf)


def allocate(
    uplift: np.ndarray,
    p_treated: np.ndarray,
    cost: np.ndarray,
    budget: np.ndarray,
    method: str = "linear_program",
) -> BudgetAllocation:
    """At most one offer per person under per-offer budgets (in expected spend).

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
    if not (np.isfinite(uplift).all() and np.isfinite(p_treated).all()):
        raise ValueError("uplift and p_treated must be finite")
    if method not in METHODS:
        raise ValueError(f"unknown allocation method {method!r}; choose one of {METHODS}")
    spend = expected_cost(p_treated, cost)
    if method == "greedy":
        return _greedy(uplift, spend, budget)
    return _linear_program(uplift, spend, budget)


def _greedy(uplift, spend, budget) -> BudgetAllocation:
    ratio = uplift / spend
    people, offers = np.nonzero(uplift > 0)
    order = np.argsort(-ratio[people, offers], kind="stable")
    chosen = np.full(uplift.shape[0], -1, dtype=np.int64)
    left = budget.copy()
    lowest_paid = np.full(len(budget), np.inf)  # inf: the budget paid for nobody
    ran_out = np.zeros(len(budget), dtype=bool)
    for person, offer in zip(people[order].tolist(), offers[order].tolist(), strict=True):
        if chosen[person] >= 0 or ran_out[offer]:
            continue
        if spend[person, offer] > left[offer]:
            ran_out[offer] = True  # every later pair of this offer has a lower ratio
            continue
        chosen[person] = offer
        left[offer] -= spend[person, offer]
        lowest_paid[offer] = ratio[person, offer]
    return BudgetAllocation(chosen, budget - left, np.where(ran_out, lowest_paid, 0.0))


def _linear_program(uplift, spend, budget) -> BudgetAllocation:
    """max sum u x  s.t. each person's x sums to at most 1, each offer's spend . x <= budget,
    0 <= x <= 1; only pairs with positive uplift are variables."""
    from scipy import sparse
    from scipy.optimize import linprog

    people, offers = np.nonzero(uplift > 0)
    n_people, n_offers = uplift.shape
    chosen = np.full(n_people, -1, dtype=np.int64)
    if not len(people):
        return BudgetAllocation(chosen, np.zeros(n_offers), np.zeros(n_offers))
    columns = np.arange(len(people))
    constraints = sparse.vstack(
        [
            sparse.csr_matrix((np.ones(len(people)), (people, columns)), (n_people, len(people))),
            sparse.csr_matrix((spend[people, offers], (offers, columns)), (n_offers, len(people))),
        ]
    ).tocsr()
    result = linprog(
        -uplift[people, offers],
        A_ub=constraints,
        b_ub=np.r_[np.ones(n_people), budget],
        bounds=(0, 1),
        method="highs",
    )
    if result.status != 0:
        raise ValueError(f"the allocation LP failed: {result.message}")
    prices = np.maximum(-result.ineqlin.marginals[n_people:], 0.0)
    left = budget.copy()
    # whole pairs first, then the few fractional people while their offer still fits
    for column in np.argsort(-result.x, kind="stable").tolist():
        if result.x[column] < 1e-9:
            break
        person, offer = people[column], offers[column]
        if chosen[person] < 0 and spend[person, offer] <= left[offer] + 1e-9:
            chosen[person] = offer
            left[offer] -= spend[person, offer]
    return BudgetAllocation(chosen, budget - left, prices)
