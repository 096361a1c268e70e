"""Top-N quality on MovieLens-100k under microsoft/recommenders' protocol, ours against peers.

Protocol: stratified random 75/25 split per user (seed 42), every rating is a relevant
interaction (binary), items seen in train are removed, k = 10. Every model, ours or a peer's, gets
the same tuning budget: at most ``--trials`` points of its grid, each fitted on a validation split
carved from the training part (75/25 again) and scored there, never on the test split. The best
point is refitted on the whole training part and scored once on test.

A single seed overstates differences of a few thousandths, so the top models are then refitted
with ``--seeds`` model seeds (same tuned parameters and blend weights, same split) and their test
NDCG@10 reported as mean, spread and range.

Run ``make bench-quality`` (or ``.venv/bin/python bench/quality.py``); the tables go to stdout
and to bench/RESULTS.md under "## Quality (bench-quality)". LightFM is optional: install it with
``bench/install_lightfm.sh`` (plain ``pip install lightfm`` fails to build on this Python).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from results_file import write_section  # noqa: E402

import ml.models  # noqa: E402, F401  (registers every model)
from ml.base import MODEL_REGISTRY, top_n  # noqa: E402
from ml.data import Interactions  # noqa: E402
from ml.datasets.movielens import load_movielens_100k  # noqa: E402
from ml.evaluation import fit_and_evaluate, markdown_table, tune  # noqa: E402
from ml.splits import aligned_matrices, stratified_split, stratified_split_matrix  # noqa: E402

SEED = 42
# Share of each user's training items kept to fit during tuning. 0.9 rather than 0.75: tuned
# settings (regularisation above all) transfer better when the tuning fit sees nearly as much
# data as the final fit; the same split serves every model, ours and peers.
VALIDATION_RATIO = 0.9
K = 10
SECTION = "## Quality (bench-quality)"

# Grids searched on the validation split. Each gets at most --trials fits (sampled, seeded).
OUR_GRIDS: dict[str, dict[str, list[Any]]] = {
    "popularity": {},
    "itemknn": {
        "similarity": ["cosine", "jaccard"],
        "neighbours": [50, 100, 200],
        "shrink": [0.0, 10.0],
    },
    "rp3beta": {"alpha": [0.6, 0.8, 1.0], "beta": [0.2, 0.3, 0.4], "neighbours": [100, 200]},
    "ease": {"l2": [200.0, 400.0, 800.0], "dropout": [0.25, 0.5, 0.75]},
    "als": {"factors": [64, 128], "l2": [10.0, 20.0, 40.0], "alpha": [1.0, 2.0, 4.0]},
    "bpr": {
        "factors": [64, 128],
        "learning_rate": [0.005, 0.01],
        "l2": [1e-4, 1e-3],
        "epochs": [40],
    },
    "two_tower": {
        "temperature": [0.1, 0.2, 0.3],
        "learning_rate": [0.005, 0.01],
        "batch_size": [1024],
        "epochs": [12],
    },
    "seqknn": {"window": [3, 10, 30], "decay": [0.8, 0.9], "exponent": [0.5]},
    "neumf": {
        "learning_rate": [0.001, 0.003],
        "gmf_dim": [16, 32],
        "negatives": [4],
        "epochs": [8],
    },
}
# Members of the blend: each with the parameters its own tuning found best.
ENSEMBLE_MEMBERS = ("ease", "als", "rp3beta", "two_tower", "seqknn")
# Models refitted with several model seeds after the main table (the best peer last).
SEED_STUDY = ("als", "two_tower", "ensemble", "ease", "implicit ALS")
# Models that read the interaction values as event times rather than weights.
TIMED_MODELS = {"seqknn"}

PEER_GRIDS: dict[str, dict[str, list[Any]]] = {
    "implicit ALS": {
        "factors": [64, 128],
        "regularization": [10.0, 20.0, 40.0],
        "alpha": [1.0, 2.0, 4.0],
    },
    "implicit BPR": {
        "factors": [64, 128],
        "learning_rate": [0.01, 0.05],
        "regularization": [0.001, 0.01],
        "iterations": [100, 300],
    },
    "LightFM WARP": {
        "no_components": [64],
        "learning_rate": [0.03, 0.05],
        "item_alpha": [0.0, 1e-6],
        "epochs": [30, 60],
    },
}


class ImplicitPeer:
    """implicit's ALS or BPR behind the ``fit`` / ``recommend`` calls ml.evaluation makes."""

    def __init__(self, kind: str, random_state: int = SEED, **params: Any):
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        cls = AlternatingLeastSquares if kind == "als" else BayesianPersonalizedRanking
        self.model = cls(random_state=random_state, **params)

    def fit(self, train: sp.csr_matrix, validation: sp.csr_matrix | None = None):
        self.model.fit(sp.csr_matrix(train), show_progress=False)
        return self

    def recommend(self, users, user_items, n=10, filter_seen=True):
        return self.model.recommend(
            np.asarray(users),
            sp.csr_matrix(user_items),
            N=n,
            filter_already_liked_items=filter_seen,
        )


class LightFMPeer:
    """LightFM with the WARP loss; scores every item per user and drops seen ones."""

    def __init__(self, epochs: int = 30, random_state: int = SEED, **params: Any):
        from lightfm import LightFM

        self.epochs = epochs
        self.model = LightFM(loss="warp", random_state=random_state, **params)

    def fit(self, train: sp.csr_matrix, validation: sp.csr_matrix | None = None):
        self.model.fit(sp.coo_matrix(train), epochs=self.epochs, num_threads=os.cpu_count() or 1)
        self.n_items = train.shape[1]
        return self

    def recommend(self, users, user_items, n=10, filter_seen=True):
        users = np.asarray(users, dtype=np.int32)
        items = np.arange(self.n_items, dtype=np.int32)
        scores = self.model.predict(
            np.repeat(users, self.n_items), np.tile(items, len(users)), num_threads=1
        ).reshape(len(users), self.n_items)
        if filter_seen:
            rows, cols = sp.csr_matrix(user_items).nonzero()
            scores[rows, cols] = -np.inf
        return top_n(scores.astype(np.float32), n)


def peer_factory(name: str):
    if name == "implicit ALS":
        return lambda **p: ImplicitPeer("als", **p)
    if name == "implicit BPR":
        return lambda **p: ImplicitPeer("bpr", **p)
    return lambda **p: LightFMPeer(**p)


def our_factory(name: str):
    return lambda **p: MODEL_REGISTRY[name](**p)


@dataclass
class Splits:
    """Binary matrices for every model, and the same cells holding event times for seqknn."""

    train: sp.csr_matrix
    test: sp.csr_matrix
    fit_part: sp.csr_matrix
    validation: sp.csr_matrix
    train_times: sp.csr_matrix
    fit_part_times: sp.csr_matrix

    def inputs(self, timed: bool) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(whole train part, train part of train) as the model reads them."""
        if timed:
            return self.train_times, self.fit_part_times
        return self.train, self.fit_part


def load_data(validation_ratio: float = VALIDATION_RATIO) -> Splits:
    """The test split, the validation split carved from train, and event-time twins."""
    log = load_movielens_100k().interactions
    train_log, test_log = stratified_split(log, ratio=0.75, seed=SEED)
    matrices = aligned_matrices(train_log, test_log, binary=True)
    fit_part, validation = stratified_split_matrix(
        matrices.train, ratio=validation_ratio, seed=SEED + 1
    )
    # Minutes since the first event, plus one: positive and exact in float32.
    minutes = (train_log.timestamps - log.timestamps.min()) / 60.0 + 1.0
    timed_log = Interactions(train_log.user_ids, train_log.item_ids, minutes, train_log.timestamps)
    train_times, _, _ = timed_log.to_matrix(matrices.users, matrices.items)
    fit_part_times = sp.csr_matrix(train_times.multiply(fit_part > 0), dtype=np.float32)
    return Splits(matrices.train, matrices.test, fit_part, validation, train_times, fit_part_times)


def tuned_row(
    name: str, factory, grid, data: Splits, trials: int, timed: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tune on validation, refit the best on the whole train part, evaluate on test."""
    train, fit_part = data.inputs(timed)
    started = time.perf_counter()
    if grid:
        result = tune(
            factory,
            grid,
            fit_part,
            data.validation,
            metric=f"ndcg@{K}",
            max_trials=trials,
            seed=SEED,
            pass_validation_to_fit=False,
        )
        best, val_score = result.best_params, result.best_score
    else:
        best, val_score = {}, None
    tuning_seconds = time.perf_counter() - started
    row = fit_and_evaluate(factory(**best), train, data.test, k=K, name=name)
    row.update(params=best, val_ndcg=val_score, tuning_seconds=tuning_seconds)
    print(
        f"  {name:<14} val NDCG@{K} {val_score if val_score is None else round(val_score, 4)} "
        f"test NDCG@{K} {row[f'ndcg@{K}']:.4f} fit {row['fit_seconds']:.1f}s "
        f"(tuning {tuning_seconds:.0f}s) {best}",
        flush=True,
    )
    return row, best


def ensemble_row(
    best_params: dict[str, dict[str, Any]], data: Splits
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Blend weights chosen on validation (members fitted on the train part), then refit.

    The ensemble reads event times (for seqknn); every other member sees them as 1.0.
    """
    members = [
        [name, best_params[name]] + ([] if name in TIMED_MODELS else ["binary"])
        for name in ENSEMBLE_MEMBERS
        if name in best_params
    ]
    started = time.perf_counter()
    tuner = MODEL_REGISTRY["ensemble"](members=members)
    tuner.fit(data.fit_part_times, validation=data.validation)
    weights = tuner.weights_.tolist()
    tuning_seconds = time.perf_counter() - started
    params = {"members": members, "weights": weights, "tune_weights": False}
    row = fit_and_evaluate(
        MODEL_REGISTRY["ensemble"](**params), data.train_times, data.test, k=K, name="ensemble"
    )
    described = {member[0]: round(w, 2) for member, w in zip(members, weights, strict=True)}
    row.update(params={"weights": described}, val_ndcg=tuner.history.last("val_ndcg@10"))
    row["tuning_seconds"] = tuning_seconds
    print(
        f"  ensemble       val NDCG@{K} {row['val_ndcg']:.4f} test NDCG@{K} "
        f"{row[f'ndcg@{K}']:.4f} fit {row['fit_seconds']:.1f}s weights {described}",
        flush=True,
    )
    return row, params


def with_seed(name: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """``params`` with the model's random seed set (every seeded member's, for the ensemble).

    Models without a seed (EASE, item-item ones) get ``params`` back unchanged.
    """
    if name == "ensemble":
        members = [[m[0], with_seed(m[0], m[1], seed), *m[2:]] for m in params["members"]]
        return {**params, "members": members}
    if name in PEER_GRIDS:
        return {**params, "random_state": seed}
    if "seed" in MODEL_REGISTRY[name].default_params():
        return {**params, "seed": seed}
    return params


def mean_std(values: np.ndarray, fmt: str = ".4f", sign: str = "") -> str:
    """Mean ± std over seeds (std with ddof=1); a single run is just its value."""
    if len(values) == 1:
        return f"{values[0]:{sign}{fmt}}"
    return f"{values.mean():{sign}{fmt}} ± {values.std(ddof=1):{fmt}}"


def seed_study(
    fitted: dict[str, tuple[Any, dict[str, Any], sp.csr_matrix]], data: Splits, seeds: list[int]
) -> tuple[str, str]:
    """Refit each model of SEED_STUDY once per model seed; a table and a note on ours vs peer.

    ``fitted`` maps a model to (factory, tuned params, training matrix) as the main table used.
    A model whose params take no seed is deterministic and fitted once.
    """
    rows, scores = [], {}
    for name in (name for name in SEED_STUDY if name in fitted):
        factory, params, train = fitted[name]
        deterministic = with_seed(name, params, 1) == with_seed(name, params, 2)
        runs = seeds[:1] if deterministic else seeds
        values = np.array(
            [
                fit_and_evaluate(factory(**with_seed(name, params, s)), train, data.test, k=K)[
                    f"ndcg@{K}"
                ]
                for s in runs
            ]
        )
        scores[name] = values
        rows.append(
            {
                "model": name,
                "seeds": "deterministic, 1 run" if deterministic else ", ".join(map(str, runs)),
                "mean": mean_std(values),
                "range": f"{values.min():.4f} - {values.max():.4f}",
                "values": " ".join(f"{v:.4f}" for v in values),
            }
        )
        print(f"  {name:<14} seeds {rows[-1]['seeds']}: NDCG@{K} {rows[-1]['values']}", flush=True)
    columns = [
        "model",
        ("seeds", "model seeds"),
        ("mean", f"NDCG@{K} mean ± std"),
        ("range", "min - max"),
        ("values", "per seed"),
    ]
    ours = [name for name in scores if name not in PEER_GRIDS]
    peers = [name for name in scores if name in PEER_GRIDS]
    if not ours or not peers:
        return markdown_table(rows, columns), ""
    best_ours = max(ours, key=lambda name: scores[name].mean())
    best_peer = max(peers, key=lambda name: scores[name].mean())
    ours_values, peer_values = np.broadcast_arrays(scores[best_ours], scores[best_peer])
    gaps, lifts = ours_values - peer_values, ours_values / peer_values - 1.0
    note = (
        f"over {len(seeds)} model seeds: {best_ours} {mean_std(scores[best_ours])}, "
        f"{best_peer} {mean_std(scores[best_peer])}; per-seed difference "
        f"{mean_std(gaps, sign='+')} NDCG@10 ({mean_std(lifts, '.1%', '+')}, "
        f"range {lifts.min():+.1%} to {lifts.max():+.1%})"
    )
    return markdown_table(rows, columns), note


def write_results(table: str, notes: list[str], command: str) -> None:
    """Replace (or add) this benchmark's section of bench/RESULTS.md, leaving the others alone."""
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} CPU cores, no GPU, {platform.platform()}"
    body = "\n".join(
        [
            SECTION,
            "",
            f"- date: {today}",
            f"- machine: {machine} (shared with other jobs while it ran; timings are noisy)",
            f"- command: `{command}`",
            "",
            table,
            "",
            *[f"- {note}" for note in notes],
            "",
        ]
    )
    write_section(body)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=8, help="grid points per model (default 8)")
    parser.add_argument("--models", help="comma-separated subset (ours and peers), for quick runs")
    parser.add_argument(
        "--validation-ratio",
        type=float,
        default=VALIDATION_RATIO,
        help=f"train share of the validation split carved from train (default {VALIDATION_RATIO})",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=5,
        help="model seeds for the spread of the top models (default 5; below 2 skips it)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--no-families", action="store_true", help="skip quality_families.py")
    args = parser.parse_args(argv)
    wanted = set(args.models.split(",")) if args.models else None

    data = load_data(args.validation_ratio)
    print(
        f"MovieLens-100k: train {data.train.nnz} / test {data.test.nnz} ratings, "
        f"{data.train.shape[0]} users x {data.train.shape[1]} items; "
        f"validation carved from train: {data.fit_part.nnz} / {data.validation.nnz}",
        flush=True,
    )
    kept = round(100 * args.validation_ratio)
    notes = [
        f"Stratified 75/25 split per user (seed {SEED}); all ratings relevant; seen items removed; "
        f"k = {K}. Tuning: at most {args.trials} grid points per model on a {kept}/{100 - kept} "
        "validation split of the training part; the best point refitted on all of train, scored "
        "once on test. The ensemble's blend weights are chosen on the same validation split.",
        "train s = the final fit on the training part; predict s = top-10 for every test user. "
        "seqknn (and the ensemble, for its seqknn member) reads event times instead of 1.0.",
    ]
    rows, best_params, fitted = [], {}, {}
    for name, grid in OUR_GRIDS.items():
        if wanted is None or name in wanted:
            timed = name in TIMED_MODELS
            row, best_params[name] = tuned_row(
                name, our_factory(name), grid, data, args.trials, timed
            )
            rows.append(row)
            fitted[name] = (our_factory(name), best_params[name], data.inputs(timed)[0])
    if wanted is None or "ensemble" in wanted:
        row, params = ensemble_row(best_params, data)
        rows.append(row)
        fitted["ensemble"] = (our_factory("ensemble"), params, data.train_times)
    for name, grid in PEER_GRIDS.items():
        if wanted is not None and name not in wanted:
            continue
        if name == "LightFM WARP":
            if importlib.util.find_spec("lightfm") is None:
                notes.append("LightFM WARP: not installed (run bench/install_lightfm.sh), no row.")
                continue
            notes.append(
                "LightFM 1.17 built from its sdist by bench/install_lightfm.sh "
                "(plain `pip install lightfm` fails to build on this Python)."
            )
        row, params = tuned_row(name, peer_factory(name), grid, data, args.trials)
        rows.append(row)
        fitted[name] = (peer_factory(name), params, data.train)

    for row in rows:
        row["params"] = ", ".join(f"{k}={v}" for k, v in sorted(row["params"].items()))
    columns = [
        "model",
        f"map@{K}",
        f"ndcg@{K}",
        f"precision@{K}",
        f"recall@{K}",
        f"coverage@{K}",
        ("fit_seconds", "train s"),
        ("predict_seconds", "predict s"),
        ("val_ndcg", "val NDCG@10"),
        ("params", "tuned params"),
    ]
    table = markdown_table(rows, columns)
    seed_note = ""
    if args.seeds >= 2:
        seeds = [SEED, *range(1, args.seeds)]
        print(f"Refitting the top models with model seeds {seeds} (split seed stays {SEED}):")
        seed_table, seed_note = seed_study(fitted, data, seeds)
        table += (
            f"\n\nSpread over model seeds: the top models refitted on all of train with model seeds "
            f"{', '.join(map(str, seeds))} (ALS/two_tower `seed`, every seeded ensemble member's "
            "together, implicit's `random_state`); tuned parameters, blend weights and the "
            f"split (seed {SEED}) unchanged; std over seeds with ddof=1.\n\n{seed_table}"
        )
    ours = [r for r in rows if r["model"] not in PEER_GRIDS]
    peers = [r for r in rows if r["model"] in PEER_GRIDS]
    if ours and peers:
        best_ours = max(ours, key=lambda r: r[f"ndcg@{K}"])
        best_peer = max(peers, key=lambda r: r[f"ndcg@{K}"])
        lift = best_ours[f"ndcg@{K}"] / best_peer[f"ndcg@{K}"] - 1.0
        notes.append(
            f"Best of ours: {best_ours['model']} {best_ours[f'ndcg@{K}']:.4f} NDCG@10; best peer: "
            f"{best_peer['model']} {best_peer[f'ndcg@{K}']:.4f}; difference {lift:+.1%} "
            f"at model seed {SEED}"
            + (f"; {seed_note}" if seed_note else "")
            + " (goal: >= 0.507 and >= +5%)."
        )
    print()
    print(table)
    print()
    print("\n".join(f"- {note}" for note in notes))
    if not args.no_write and wanted is None:
        flags = sys.argv[1:] if argv is None else argv
        write_results(table, notes, " ".join([".venv/bin/python bench/quality.py", *flags]))
    path = ROOT / "bench" / "quality_families.py"
    if not args.no_families and wanted is None and path.exists():
        spec = importlib.util.spec_from_file_location("quality_families", path)
        families = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(families)
        families.main()
    return rows


if __name__ == "__main__":
    main()
