"""The budget allocation and the behaviour features: pure numpy, no database."""

import numpy as np
import pytest

from scenarios.coupons.allocation import allocate, gain_per_cost
from scenarios.coupons.features import FEATURE_NAMES, Events, behaviour_features


def test_the_best_gain_per_cost_is_served_first_and_no_budget_is_overspent():
    uplift = np.array([[0.30, 0.10], [0.05, 0.20], [0.20, 0.02], [-0.1, -0.2], [0.15, -0.1]])
    p_treated = np.full_like(uplift, 0.5)
    cost = np.array([10.0, 2.0])
    budget = np.array([5.0, 100.0])  # offer 0 pays one redemption's expected cost (0.5 * 10)
    result = allocate(uplift, p_treated, cost, budget)
    ratio = gain_per_cost(uplift, p_treated, cost)
    # person 0: 0.10 / (0.5 * 2) beats 0.30 / 5; person 2 has offer 0's best remaining ratio;
    # person 4 comes after offer 0's budget is spent; person 3 has no positive uplift
    assert result.offer.tolist() == [1, 1, 0, -1, -1]
    assert (result.expected_cost <= budget + 1e-9).all()
    assert result.thresholds[0] == pytest.approx(ratio[2, 0])  # the lowest ratio it paid
    assert result.thresholds[1] == 0.0  # never ran out


def test_each_person_gets_at_most_one_offer():
    rng = np.random.default_rng(0)
    uplift = rng.uniform(0, 0.3, size=(50, 4))
    result = allocate(uplift, np.full_like(uplift, 0.4), np.ones(4), np.full(4, 1e9))
    assert (result.offer >= 0).all()
    assert (result.offer == uplift.argmax(axis=1)).all()  # equal costs: the largest uplift


@pytest.mark.parametrize(
    "cost, budget",
    [(np.array([0.0, 1.0]), np.array([1.0, 1.0])), (np.ones(2), np.array([-1.0, 1.0]))],
)
def test_bad_costs_and_budgets_are_refused(cost, budget):
    with pytest.raises(ValueError):
        allocate(np.ones((2, 2)), np.ones((2, 2)), cost, budget)


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
