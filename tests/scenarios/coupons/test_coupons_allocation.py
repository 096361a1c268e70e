"""The budget allocation and the behaviour features: pure numpy, no database."""

import numpy as np
import pytest

from scenarios.coupons.allocation import METHODS, allocate, gain_per_cost, net_value
from scenarios.coupons.features import FEATURE_NAMES, Events, behaviour_features


def test_greedy_serves_the_best_gain_per_cost_first_and_no_budget_is_overspent():
    uplift = np.array([[0.30, 0.10], [0.05, 0.20], [0.20, 0.02], [-0.1, -0.2], [0.15, -0.1]])
    p_treated = np.full_like(uplift, 0.5)
    cost = np.array([10.0, 2.0])
    budget = np.array([5.0, 100.0])  # offer 0 pays one redemption's expected cost (0.5 * 10)
    result = allocate(uplift, p_treated, cost, budget, method="greedy")
    ratio = gain_per_cost(uplift, p_treated, cost)
    # person 0: 0.10 / (0.5 * 2) beats 0.30 / 5; person 2 has offer 0's best remaining ratio;
    # person 4 comes after offer 0's budget is spent; person 3 has no positive uplift
    assert result.offer.tolist() == [1, 1, 0, -1, -1]
    assert (result.expected_cost <= budget + 1e-9).all()
    assert result.prices[0] == pytest.approx(ratio[2, 0])  # the lowest ratio it paid
    assert result.prices[1] == 0.0  # never ran out


def test_the_linear_program_buys_more_than_greedy_where_the_best_ratio_is_a_weak_offer():
    # Three people, each moved a little by a cheap offer (the best ratio) or a lot by a dear
    # one. Greedy hands all three the cheap one and leaves the dear budget unspent.
    uplift = np.tile([0.10, 0.30], (3, 1))
    p_treated = np.full_like(uplift, 0.5)
    cost = np.array([1.0, 6.0])
    budget = np.array([10.0, 9.0])  # the cheap one for all, or the dear one for all three
    greedy = allocate(uplift, p_treated, cost, budget, method="greedy")
    program = allocate(uplift, p_treated, cost, budget)
    gain = {
        name: uplift[np.flatnonzero(a.offer >= 0), a.offer[a.offer >= 0]].sum()
        for name, a in (("greedy", greedy), ("lp", program))
    }
    assert gain["greedy"] == pytest.approx(0.3) and gain["lp"] == pytest.approx(0.9)
    assert program.offer.tolist() == [1, 1, 1]
    assert (program.expected_cost <= budget + 1e-9).all()


def test_the_lp_prices_reproduce_its_choice_one_person_at_a_time():
    """Serving sees one person: the best non-negative net value under the LP's prices gives
    almost everyone what the whole-audience LP gave them."""
    rng = np.random.default_rng(0)
    uplift = rng.uniform(-0.05, 0.3, size=(400, 3))
    p_treated = rng.uniform(0.1, 0.6, size=(400, 3))
    cost = np.array([2.0, 5.0, 9.0])
    budget = np.array([30.0, 40.0, 60.0])
    result = allocate(uplift, p_treated, cost, budget)
    assert (result.expected_cost <= budget + 1e-9).all()
    assert (result.prices > 0).all()  # every budget binds
    net = net_value(uplift, p_treated, cost, result.prices)
    served = np.where((net >= 0).any(axis=1) & (uplift > 0).any(axis=1), net.argmax(axis=1), -1)
    assert (served == result.offer).mean() > 0.98


def test_each_person_gets_at_most_one_offer():
    rng = np.random.default_rng(0)
    uplift = rng.uniform(0, 0.3, size=(50, 4))
    for method in METHODS:
        result = allocate(uplift, np.full_like(uplift, 0.4), np.ones(4), np.full(4, 1e9), method)
        assert (result.offer >= 0).all()
        assert (result.offer == uplift.argmax(axis=1)).all()  # equal costs: the largest uplift
        assert (result.prices == 0).all()  # no budget binds


@pytest.mark.parametrize(
    "cost, budget, method",
    [
        (np.array([0.0, 1.0]), np.array([1.0, 1.0]), "greedy"),
        (np.ones(2), np.array([-1.0, 1.0]), "linear_program"),
        (np.ones(2), np.ones(2), "simplex"),
    ],
)
def test_bad_costs_budgets_and_methods_are_refused(cost, budget, method):
    with pytest.raises(ValueError):
        allocate(np.ones((2, 2)), np.ones((2, 2)), cost, budget, method)


def test_features_read_only_events_before_each_cutoff():
    day = 86400.0
    events = Events(
        person=np.array([0, 0, 0, 1]),
        event_type=np.array(["view", "purchase", "purchase", "view"]),
        time=np.array([1 * day, 2 * day, 9 * day, 3 * day]),
        price=np.array([0.0, 20.0, 500.0, 0.0]),
    )
    features = behaviour_features(events, cutoff=np.array([5 * day, 2 * day]))
    column = {name: features[:, i] for i, name in enumerate(FEATURE_NAMES)}
    assert column["log_purchases"][0] == pytest.approx(np.log1p(1))  # the day-9 one is later
    assert column["log_spend"][0] == pytest.approx(np.log1p(20))
    assert column["days_since_last_event"][0] == pytest.approx(3)
    assert column["days_since_first_event"][0] == pytest.approx(4)
    assert column["log_views"][1] == 0 and column["days_since_last_event"][1] == 365
