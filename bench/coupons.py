"""``python bench/coupons.py``: uplift targeting quality for the coupons scenario.

Hillstrom (women's e-mail vs none, outcome visit; 50/20/30 split, l2 tuned on validation Qini
for every scored model alike): Qini and uplift@30% of the T-learner against random and
response-propensity targeting. Simulated campaign with known truth (scenarios.coupons
.simulation, 20,000 people, three offers): incremental conversions a fixed budget buys when
allocated greedily (scenarios.coupons.allocation) from the T-learner, from a propensity model,
at random, and from the true uplift (oracle). Prints markdown; writes the RESULTS section.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from results_file import write_section  # noqa: E402

from ml.datasets.hillstrom import load_hillstrom  # noqa: E402
from ml.metrics.uplift import qini_coefficient, uplift_at_k  # noqa: E402
from ml.models.ctr import fit_logistic, sigmoid  # noqa: E402
from ml.models.uplift import TLearner  # noqa: E402
from scenarios.coupons.allocation import allocate  # noqa: E402
from scenarios.coupons.simulation import DEMO_OFFERS, run_experiment, synthetic_features  # noqa: E402

L2_GRID = (1e-3, 1e-2, 1e-1)


def split(n, rng):
    order = rng.permutation(n)
    return order[: int(0.5 * n)], order[int(0.5 * n) : int(0.7 * n)], order[int(0.7 * n) :]


def propensity(X, y, l2):
    mean, std = X.mean(0), np.maximum(X.std(0), 1e-9)
    w, b = fit_logistic(((X - mean) / std).astype(np.float32), y, l2, max_iter=300)
    return lambda Z: sigmoid(((Z - mean) / std).astype(np.float32) @ w + b)


def hillstrom_rows():
    arm = load_hillstrom().arm("Womens E-Mail", "visit")
    X, t, y = arm.features.astype(np.float64), arm.treatment, arm.outcome
    train, valid, test = split(len(y), np.random.default_rng(0))
    best = max(
        (TLearner(l2=l2).fit(X[train], t[train], y[train]) for l2 in L2_GRID),
        key=lambda m: qini_coefficient(y[valid], t[valid], m.predict_uplift(X[valid])),
    )
    treated = train[t[train] == 1]
    prop = max(
        (propensity(X[treated], y[treated], l2) for l2 in L2_GRID),
        key=lambda f: qini_coefficient(y[valid], t[valid], f(X[valid])),
    )
    scores = {
        "T-learner (ours)": best.predict_uplift(X[test]),
        "response propensity": prop(X[test]),
        "random targeting": np.random.default_rng(1).random(len(test)),
    }
    return [
        (name, qini_coefficient(y[test], t[test], s), uplift_at_k(y[test], t[test], s, 0.3))
        for name, s in scores.items()
    ]


def simulated_rows(people=20000, budget_share=0.15):
    rng = np.random.default_rng(0)
    X = synthetic_features(people, rng)
    strength = np.array([o[-1] for o in DEMO_OFFERS])
    cost = np.array([o[5] for o in DEMO_OFFERS])
    exp = run_experiment(X, strength, rng, holdout=0.5)
    train, valid, test = split(people, rng)
    fit = np.r_[train, valid]
    models = []
    for k in range(len(cost)):
        rows = fit[(exp.treated[fit] == 0) | (exp.offer[fit] == k)]
        rows_t = (exp.treated[rows] & (exp.offer[rows] == k)).astype(np.int8)
        models.append(TLearner(l2=1e-2).fit(X[rows], rows_t, exp.converted[rows].astype(float)))
    arms = [m.predict_arms(X[test]) for m in models]
    p_t = np.column_stack([a for a, _ in arms])
    up = p_t - np.column_stack([c for _, c in arms])
    true_up, true_pt = exp.true_uplift[test], exp.true_p_treated[test]
    budget = np.full(len(cost), budget_share * len(test) * cost.mean() * 0.3 / len(cost))
    treated_rows = fit[exp.treated[fit]]
    prop = propensity(X[treated_rows], exp.converted[treated_rows].astype(float), 1e-2)(X[test])
    r = np.random.default_rng(2)
    policies = {
        "greedy allocation on T-learner uplift (ours)": (up, p_t),
        "greedy on response propensity": (np.column_stack([prop] * len(cost)), p_t),
        "random targeting": (r.random(up.shape), p_t),
        "oracle (true uplift)": (true_up, true_pt),
    }
    rows = []
    for name, (u, p) in policies.items():
        a = allocate(u, p, cost, budget)
        given = a.offer >= 0
        gain = true_up[np.flatnonzero(given), a.offer[given]].sum()
        spend = (true_pt[np.flatnonzero(given), a.offer[given]] * cost[a.offer[given]]).sum()
        rows.append((name, int(given.sum()), gain, spend))
    return rows, budget.sum()


def main():
    lines = ["## Coupons (bench-coupons)", "", "Command: `python bench/coupons.py`", ""]
    lines += ["### Hillstrom, women's e-mail vs none (visit), test 30%", ""]
    lines += ["| targeting | Qini coefficient | uplift@30% |", "|---|---:|---:|"]
    lines += [f"| {n} | {q:.4f} | {u:.4f} |" for n, q, u in hillstrom_rows()]
    rows, budget = simulated_rows()
    lines += ["", f"### Simulated campaign with known uplift (test 30%, budget {budget:.0f})", ""]
    lines += [
        "| allocation | people given an offer | true incremental conversions | expected spend |"
    ]
    lines += ["|---|---:|---:|---:|"]
    oracle = rows[-1][2]
    lines += [
        f"| {n} | {g} | {v:.1f} ({v / oracle:.0%} of oracle) | {s:.0f} |" for n, g, v, s in rows
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_section(text)


if __name__ == "__main__":
    main()
