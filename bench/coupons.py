"""``python bench/coupons.py``: uplift targeting quality for the coupons scenario.

Hillstrom (women's e-mail vs none, outcome visit; 50/20/30 split): Qini and uplift@30% of the
T-learner and of the two-head TensorFlow network, each tuned on the validation Qini over a grid
of six settings (the network also stops early on it), against response propensity (its l2
tuned alike) and random targeting.

Simulated campaign with known truth (scenarios.coupons.simulation, 20,000 people, three offers,
three data seeds, the same 50/20/30 split): per offer, each family's settings are chosen on the
validation Qini (mean over the offers); then a fixed budget is allocated over the test people
(scenarios.coupons.allocation, by linear program and by greedy gain per cost) from each
family's estimates, from a propensity model, at random, from P(buy | behaviour) itself (the
best any model that sees only behaviour can know) and from the hidden truth (the oracle).
Prints markdown; writes the RESULTS section (keeping its hand-written notes).

``python bench/coupons.py --serve [--backend embedded|postgresql+redis|both]``: p50/p99 and
throughput of GET /coupons/offers and POST /coupons/redeem under gunicorn against the floor
(bench/scenario_serve.py), on a demo store (seed_demo with only the coupons scenario enabled:
its randomized campaign, then a first trained model); its own RESULTS section.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from results_file import write_section  # noqa: E402
from scenario_serve import (  # noqa: E402
    SERVE_METHOD,
    SETUP_HEAD,
    SETUP_TAIL,
    Endpoint,
    bench_endpoints,
    serve_table,
)
from serve import load_average  # noqa: E402

from ml.datasets.hillstrom import load_hillstrom  # noqa: E402
from ml.metrics.uplift import qini_coefficient, uplift_at_k  # noqa: E402
from ml.models.ctr import fit_logistic, sigmoid  # noqa: E402
from ml.models.uplift import TLearner, TwoHeadUplift  # noqa: E402
from scenarios.coupons.allocation import METHODS, allocate  # noqa: E402
from scenarios.coupons.simulation import (  # noqa: E402
    DEMO_OFFERS,
    behaviour_response,
    run_experiment,
    synthetic_features,
)

L2_GRID = (1e-3, 1e-2, 1e-1)
FAMILIES = {
    "T-learner": (
        TLearner,
        [{"l2": l2, "interactions": i} for i in (False, True) for l2 in L2_GRID],
    ),
    "two-head network": (
        TwoHeadUplift,
        [{"hidden": h, "l2": l2} for h in ([32, 16], [64, 32]) for l2 in (1e-4, 1e-3, 1e-2)],
    ),
}
SEEDS = (0, 1, 2)


def split(n, rng):
    order = rng.permutation(n)
    return order[: int(0.5 * n)], order[int(0.5 * n) : int(0.7 * n)], order[int(0.7 * n) :]


def propensity(X, y, l2):
    mean, std = X.mean(0), np.maximum(X.std(0), 1e-9)
    w, b = fit_logistic(((X - mean) / std).astype(np.float32), y, l2, max_iter=300)
    return lambda Z: sigmoid(((Z - mean) / std).astype(np.float32) @ w + b)


def fit_family(cls, params, X, t, y, train, valid):
    return cls(**params).fit(
        X[train], t[train], y[train], validation=(X[valid], t[valid], y[valid])
    )


def hillstrom_rows():
    arm = load_hillstrom().arm("Womens E-Mail", "visit")
    X, t, y = arm.features.astype(np.float64), arm.treatment, arm.outcome
    train, valid, test = split(len(y), np.random.default_rng(0))

    def val_qini(score):
        return qini_coefficient(y[valid], t[valid], score(X[valid]))

    scores, chosen = {}, {}
    for name, (cls, grid) in FAMILIES.items():
        fitted = [(p, fit_family(cls, p, X, t, y, train, valid)) for p in grid]
        params, best = max(fitted, key=lambda pm: val_qini(pm[1].predict_uplift))
        scores[name], chosen[name] = best.predict_uplift(X[test]), params
    treated = train[t[train] == 1]
    prop = max(
        (propensity(X[treated], y[treated], l2) for l2 in L2_GRID),
        key=val_qini,
    )
    scores["response propensity"] = prop(X[test])
    scores["random targeting"] = np.random.default_rng(1).random(len(test))
    rows = [
        (name, qini_coefficient(y[test], t[test], s), uplift_at_k(y[test], t[test], s, 0.3))
        for name, s in scores.items()
    ]
    return rows, chosen


def simulated_campaign(seed, people=20000, budget_share=0.15):
    """Per targeting and allocation method: (people given, true incremental conversions, true
    expected spend); the test Qini of each family; the budget; the settings chosen."""
    rng = np.random.default_rng(seed)
    X = synthetic_features(people, rng)
    strength = np.array([o[-1] for o in DEMO_OFFERS])
    cost = np.array([o[5] for o in DEMO_OFFERS])
    exp = run_experiment(X, strength, rng, holdout=0.5)
    train, valid, test = split(people, rng)
    y = exp.converted.astype(np.float64)

    def offer_rows(part, k):
        """The part's people given offer k, and every held-out one; their treatment flag."""
        rows = part[(~exp.treated[part]) | (exp.offer[part] == k)]
        return rows, (exp.treated[rows] & (exp.offer[rows] == k)).astype(np.int8)

    def mean_qini(models, part):
        values = []
        for k, model in enumerate(models):
            rows, t = offer_rows(part, k)
            values.append(qini_coefficient(y[rows], t, model.predict_uplift(X[rows])))
        return float(np.mean(values))

    estimates, qini, chosen = {}, {}, {}
    for name, (cls, grid) in FAMILIES.items():
        candidates = []
        for params in grid:
            models = []
            for k in range(len(cost)):
                (fit_rows, fit_t), (val_rows, val_t) = offer_rows(train, k), offer_rows(valid, k)
                models.append(
                    cls(**params).fit(
                        X[fit_rows],
                        fit_t,
                        y[fit_rows],
                        validation=(X[val_rows], val_t, y[val_rows]),
                    )
                )
            candidates.append((mean_qini(models, valid), params, models))
        _, chosen[name], models = max(candidates, key=lambda c: c[0])
        arms = [m.predict_arms(X[test]) for m in models]
        p_treated = np.column_stack([a for a, _ in arms])
        estimates[f"{name} uplift"] = (p_treated - np.column_stack([c for _, c in arms]), p_treated)
        qini[name] = mean_qini(models, test)
    # the baselines' expected costs come from the T-learner's treated arm, as ours do
    p_treated = estimates["T-learner uplift"][1]
    treated = train[exp.treated[train]]
    prop = max(
        (propensity(X[treated], y[treated], l2) for l2 in L2_GRID),
        key=lambda f: np.mean(
            [
                qini_coefficient(y[r], t, f(X[r]))
                for r, t in (offer_rows(valid, k) for k in range(3))
            ]
        ),
    )(X[test])
    estimates["response propensity"] = (np.column_stack([prop] * len(cost)), p_treated)
    estimates["random"] = (np.random.default_rng(seed + 100).random(p_treated.shape), p_treated)
    behaviour_p, behaviour_up = behaviour_response(X[test], strength)
    estimates["expected response given behaviour (ceiling of any model)"] = (
        behaviour_up,
        behaviour_p,
    )
    true_up, true_pt = exp.true_uplift[test], exp.true_p_treated[test]
    estimates["oracle (hidden true uplift)"] = (true_up, true_pt)
    budget = np.full(len(cost), budget_share * len(test) * cost.mean() * 0.3 / len(cost))
    results = {}
    for name, (uplift, p) in estimates.items():
        for method in METHODS:
            a = allocate(uplift, p, cost, budget, method)
            given = np.flatnonzero(a.offer >= 0)
            offer = a.offer[given]
            results[name, method] = (
                len(given),
                true_up[given, offer].sum(),
                (true_pt[given, offer] * cost[offer]).sum(),
            )
    return results, qini, budget.sum(), chosen


SERVE_USERS = 2000
REDEMPTIONS = 30000  # distinct event ids: once a run has sent them all, the rest are replays
SERVE_SETUP = (
    SETUP_HEAD
    + f"""
from decimal import Decimal
from catalog.models import User
from engine.ids import new_recommendation_id
from engine.models import ModelVersion
from scenarios.coupons.models import Assignment, Offer
call_command("seed_demo", users={SERVE_USERS}, items=400, articles=0, days=45, no_progress=True)
version = ModelVersion.objects.filter(scenario="coupons").latest("pk")
report.update(status=version.status, qini=version.metrics.get("qini"))
# Budgets and limits no run reaches, and every offer given to every shopper (after training,
# so the model never sees these rows): each new event id is a charge, not a refusal.
Offer.objects.update(total_budget=Decimal("1e9"), per_user_limit=10**6)
Assignment.objects.bulk_create(
    Assignment(user=user, offer=offer, group="treatment",
               recommendation_id=new_recommendation_id("coupons", version.pk, ""))
    for user in User.objects.all() for offer in Offer.objects.all()
)
"""
    + SETUP_TAIL
)


def serve_endpoints(backend: str) -> list[Endpoint]:
    users = [f"u{i + 1:05d}" for i in range(SERVE_USERS)]  # the demo store's ids
    offers = [(offer_id, minimum) for offer_id, _, _, _, minimum, _, _ in DEMO_OFFERS]
    redemptions = [
        (
            "POST",
            "/api/v1/coupons/redeem",
            {
                "user_id": users[n % len(users)],
                "offer_id": offers[n % len(offers)][0],
                "basket_total": f"{offers[n % len(offers)][1] + 10}.00",
                "event_id": f"bench-{backend}-{n}",
            },
        )
        for n in range(REDEMPTIONS)
    ]
    return [
        Endpoint(
            "GET coupons/offers (n=2)", [f"/api/v1/coupons/offers?user_id={u}&n=2" for u in users]
        ),
        Endpoint("POST coupons/redeem (new event ids)", redemptions),
    ]


def serve_main(backends: list[str]) -> None:
    # Only the scenario measured: the setup seeds (and the server loads) coupons alone.
    os.environ["RECO_SCENARIOS"] = "scenarios.coupons"
    load = load_average()
    lines = [
        "## Coupons: serving (bench-coupons --serve)",
        "",
        f"Command: `python bench/coupons.py --serve --backend {'|'.join(backends)}`",
        "",
        SERVE_METHOD,
        "",
    ]
    all_rows, infos = [], {}
    for backend in backends:
        info, rows = bench_endpoints(SERVE_SETUP, serve_endpoints(backend), backend=backend)
        infos[backend] = info["status"], round(info["qini"], 3)
        all_rows += rows
    lines += serve_table(all_rows)
    lines += [
        "",
        f"Store: seed_demo with {SERVE_USERS} shoppers and the coupons demo campaign; first "
        f"model (status, test Qini) per backend: {json.dumps(infos)}. /offers rotates over every "
        "shopper, each answer logging its assignment rows; /redeem sends "
        f"{REDEMPTIONS:,} distinct redemptions (every offer is given to every shopper after "
        "training), each a charge under the offer's row lock; a run past that many would replay "
        f"(200, nothing charged). Load average before: {load}; after: {load_average()}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_section(text)


def main():
    started = time.monotonic()
    lines = ["## Coupons (bench-coupons)", "", "Command: `python bench/coupons.py`", ""]
    lines += ["### Hillstrom, women's e-mail vs none (visit), test 30%", ""]
    lines += ["| targeting | Qini coefficient | uplift@30% |", "|---|---:|---:|"]
    rows, chosen = hillstrom_rows()
    lines += [f"| {n} | {q:.4f} | {u:.4f} |" for n, q, u in rows]
    lines += ["", "Chosen on validation: " + "; ".join(f"{n} {p}" for n, p in chosen.items())]
    runs = [simulated_campaign(seed) for seed in SEEDS]
    results, qini, budget, chosen = runs[0]
    oracle = [run[0]["oracle (hidden true uplift)", "linear_program"][1] for run in runs]
    lines += [
        "",
        f"### Simulated campaign with known uplift (test 30% = 6,000 people, budget {budget:.0f})",
        "",
        f"Seed {SEEDS[0]} in full; the last column is the share of the oracle's incremental "
        f"conversions (oracle allocated by LP) over seeds {', '.join(map(str, SEEDS))}: "
        "mean (min-max).",
        "",
        "| estimates | allocation | people given an offer | true incremental conversions "
        "| true expected spend | share of oracle, 3 seeds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, method in results:
        given, gain, spend = results[name, method]
        shares = [run[0][name, method][1] / o for run, o in zip(runs, oracle, strict=True)]
        lines.append(
            f"| {name} | {method.replace('_', ' ')} | {given} | {gain:.1f} | {spend:.0f} "
            f"| {np.mean(shares):.1%} ({min(shares):.1%}-{max(shares):.1%}) |"
        )
    lines += [
        "",
        "Test Qini (mean over the three offers), seeds "
        + ", ".join(map(str, SEEDS))
        + ": "
        + "; ".join(
            f"{name} " + " / ".join(f"{run[1][name]:.3f}" for run in runs) for name in FAMILIES
        ),
        "Chosen on validation (seed 0): " + "; ".join(f"{n} {p}" for n, p in chosen.items()),
        "",
        f"Wall time {time.monotonic() - started:.0f} s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_section(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="the serving bench instead")
    parser.add_argument(
        "--backend", choices=["embedded", "postgresql+redis", "both"], default="embedded"
    )
    args = parser.parse_args()
    if args.serve:
        both = ["embedded", "postgresql+redis"]
        serve_main(both if args.backend == "both" else [args.backend])
    else:
        main()
