"""``make bench-e2e``: what a new store is served, measured as a new user would measure it.

For MovieLens-100k and the REES46 sample: split per user 75/25 (stratified, seed 42: the
protocol of bench-quality), write the training part out in the dataset's own format, then the
CLI path a store takes (`manage.py migrate`, `import_dataset`, `train products --wait` with the
default settings, model search included) on a fresh embedded database, serve it with gunicorn
and ask `GET /api/v1/products/recommendations?user_id=U&n=10` for every test user. The answers'
NDCG@10 against the held-out part sits beside offline models on the same split, each tuned on a
validation split carved from the training part (bench-quality's grids and budget): our ALS,
EASE and implicit's ALS.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform as stdlib_platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import scipy.sparse as sp
from quality import OUR_GRIDS, PEER_GRIDS, SEED, Splits, our_factory, peer_factory, tuned_row
from results_file import write_section
from serve import Gunicorn, gunicorn_env, run_json

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]

from ml.data import Interactions  # noqa: E402
from ml.datasets.movielens import load_movielens_100k  # noqa: E402
from ml.datasets.rees46 import load_rees46  # noqa: E402
from ml.metrics.ranking import ranking_metrics  # noqa: E402
from ml.splits import aligned_matrices, stratified_split, stratified_split_matrix  # noqa: E402

SECTION = "## End to end: what a new store is served (bench-e2e)"
DATA = Path(os.environ.get("RECO_DATA_DIR", ROOT.parent / "shared" / "data"))
K = 10
OFFLINE = ("als", "ease", "implicit ALS")

TRAIN = r"""
import json, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
started = time.monotonic()
call_command("import_dataset", "{format}", "{path}", "--no-progress")
imported = time.monotonic() - started
import os
from engine.models import ScenarioConfig
if os.environ.get("BENCH_SEARCH_BUDGET"):
    config = ScenarioConfig.for_slug("products")
    config.settings = {{"search_budget_seconds": float(os.environ["BENCH_SEARCH_BUDGET"])}}
    config.save()
started = time.monotonic()
call_command("train", "products", "--wait")
from catalog.models import ApiKey
from engine.models import ModelVersion
version = ModelVersion.objects.get(scenario="products", status="promoted")
_, key = ApiKey.create_key("bench-e2e", ["read"])
print(json.dumps({{"key": key, "import_s": imported, "train_s": time.monotonic() - started,
                   "algorithm": version.algorithm, "hyperparameters": version.hyperparameters,
                   "internal": version.primary_value, "trials": len(version.search.get("trials", [])),
                   "search_s": version.search.get("seconds")}}))
"""


def split_pairs(log: Interactions) -> tuple[np.ndarray, Interactions, Interactions]:
    """Per-user 75/25 split of the distinct (user, item) pairs, seed 42; returns which events
    of ``log`` fall in the training part, and the pair-level train and test logs."""
    pairs = np.char.add(np.char.add(log.user_ids.astype(str), "\x00"), log.item_ids.astype(str))
    unique, first = np.unique(pairs, return_index=True)
    pair_log = Interactions(
        log.user_ids[first], log.item_ids[first], np.ones(len(first)), log.timestamps[first]
    )
    train_log, test_log = stratified_split(pair_log, ratio=0.75, seed=SEED)
    train_pairs = np.char.add(
        np.char.add(train_log.user_ids.astype(str), "\x00"), train_log.item_ids.astype(str)
    )
    return np.isin(pairs, train_pairs), train_log, test_log


def movielens_store(folder: Path) -> tuple[Interactions, Interactions]:
    """Write the training ratings as u.data (other files linked) and return the split."""
    source = DATA / "movielens-100k"
    log = load_movielens_100k(source).interactions
    train_log, test_log = stratified_split(log, ratio=0.75, seed=SEED)  # bench-quality's split
    with open(folder / "u.data", "w") as out:
        for row in zip(
            train_log.user_ids,
            train_log.item_ids,
            train_log.values,
            train_log.timestamps,
            strict=True,
        ):
            out.write(
                "\t".join(str(int(float(v))) if i == 2 else str(v) for i, v in enumerate(row))
            )
            out.write("\n")
    for name in ("u.item", "u.user", "u.genre", "u.occupation"):
        (folder / name).symlink_to(source / name)
    return train_log, test_log


def rees46_store(folder: Path) -> tuple[Interactions, Interactions]:
    """Write the training part's event rows as a REES46 CSV and return the pair-level split."""
    source = DATA / "rees46-ecommerce-events-sample"
    log = load_rees46(source).interactions
    with open(next(source.glob("*.csv")), newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    user_col, item_col = header.index("user_id"), header.index("product_id")
    in_train, train_log, test_log = split_pairs(log)
    kept = {(u, i) for u, i, keep in zip(log.user_ids, log.item_ids, in_train, strict=True) if keep}
    with open(folder / "events.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(r for r in body if (r[user_col], r[item_col]) in kept)
    return train_log, test_log


def served_lists(port: int, key: str, users: list[str], item_index: dict[str, int]) -> tuple:
    """Ask the server for every test user's top-10; (lists of item indices, errors, latencies)."""
    lists = np.full((len(users), K), -1, dtype=np.int64)
    errors, latencies = 0, []
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Api-Key {key}"},
        timeout=30,
    ) as client:
        for row, user in enumerate(users):
            started = time.perf_counter()
            answer = client.get(
                "/api/v1/products/recommendations", params={"user_id": user, "n": K}
            )
            latencies.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                errors += 1
                continue
            ids = [item_index.get(i["item_id"], -1) for i in answer.json()["items"]][:K]
            lists[row, : len(ids)] = ids
    return lists, errors, latencies


def offline_rows(train_log: Interactions, test_log: Interactions, trials: int) -> list[dict]:
    """Our ALS and EASE and implicit's ALS, tuned on validation, scored on the same test part."""
    matrices = aligned_matrices(train_log, test_log, binary=True)
    fit_part, validation = stratified_split_matrix(matrices.train, ratio=0.9, seed=SEED + 1)
    empty = sp.csr_matrix(matrices.train.shape, dtype=np.float32)
    splits = Splits(matrices.train, matrices.test, fit_part, validation, empty, empty)
    rows = []
    for name in OFFLINE:
        grid, factory = (
            (PEER_GRIDS[name], peer_factory(name))
            if name in PEER_GRIDS
            else (OUR_GRIDS[name], our_factory(name))
        )
        row, params = tuned_row(name, factory, grid, splits, trials)
        rows.append({"model": name, "ndcg": row[f"ndcg@{K}"], "params": params})
    return rows, matrices


def weight_rows(train_log: Interactions, test_log: Interactions) -> list[dict]:
    """Where the served quality went before model search, one factor at a time: the store's
    matrix holds each event's type weight (a rating weighs 3.0) where bench-quality reads 1.0,
    and ALS's confidence is 1 + alpha x weight; and the default hyperparameters (l2 30) against
    bench-quality's tuned ones (l2 40)."""
    from ml.evaluation import evaluate
    from ml.models.als import ALS

    matrices = aligned_matrices(train_log, test_log, binary=True)
    rows = []
    for weight in (1.0, 3.0):
        for label, params in (("defaults", {}), ("bench-quality's tuned", {"l2": 40.0})):
            model = ALS(**params).fit(sp.csr_matrix(matrices.train * weight))
            ndcg = evaluate(model, matrices.train, matrices.test, k=K)[f"ndcg@{K}"]
            rows.append({"weight": weight, "params": label, "ndcg": ndcg})
    return rows


def bench_dataset(name: str, args) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-e2e-{name}-"))
    store = folder / "store"
    store.mkdir()
    train_log, test_log = (movielens_store if name == "movielens" else rees46_store)(store)
    print(f"[{name}] {len(train_log.user_ids)} train / {len(test_log.user_ids)} test", flush=True)
    env = gunicorn_env("serve_settings", folder / "var", throttle_rate="100000000/min")
    if args.budget:
        env["BENCH_SEARCH_BUDGET"] = str(args.budget)
    source = store if name == "movielens" else store / "events.csv"
    report = run_json(
        TRAIN.format(format="movielens" if name == "movielens" else "rees46", path=source), env
    )
    print(f"[{name}] trained: {report}", flush=True)
    offline, matrices = offline_rows(train_log, test_log, args.trials)
    diagnosis = weight_rows(train_log, test_log) if name == "movielens" else []
    users = np.flatnonzero(np.diff(matrices.test.indptr) > 0)
    external_users = [matrices.users.ids[u] for u in users]
    item_index = {item: i for i, item in enumerate(matrices.items.ids)}
    server = Gunicorn(env)
    try:
        served_lists(server.port, report["key"], external_users[:50], item_index)  # warm up
        lists, errors, latencies = served_lists(
            server.port, report["key"], external_users, item_index
        )
    finally:
        server.stop()
    served = ranking_metrics(lists, matrices.test[users], K)
    return {
        "dataset": name,
        "report": report,
        "served": served[f"ndcg@{K}"],
        "served_precision": served[f"precision@{K}"],
        "users": len(users),
        "errors": errors,
        "median_ms": float(np.median(latencies)),
        "offline": offline,
        "diagnosis": diagnosis,
    }


def table(results: list[dict], args, load: str) -> str:
    lines = [
        SECTION,
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {os.cpu_count()} cores "
        f"({stdlib_platform.machine()}), Python {stdlib_platform.python_version()}, shared with "
        f"other work (1-min load average {load} at the start). Command: `make bench-e2e` "
        f"(`python bench/e2e.py`). Offline rows: tuned on a 90/10 validation split of the "
        f"training part with at most {args.trials} grid points (bench-quality's grids), refit on "
        "the training part, scored on the test part; served: the default settings through the "
        "CLI and REST, model search on (its budget: "
        + (f"{args.budget} s, set for this run" if args.budget else "the default")
        + ").",
        "",
        "| dataset | test users | served NDCG@10 | served P@10 | errors | median ms "
        "| served model (search winner) | trials | search s | train s "
        "| our ALS | our EASE | implicit ALS | served vs best offline | served vs implicit |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        offline = {row["model"]: row["ndcg"] for row in r["offline"]}
        best = max(offline.values())
        rep = r["report"]
        params = ", ".join(f"{k}={v}" for k, v in sorted(rep["hyperparameters"].items()))
        lines.append(
            f"| {r['dataset']} | {r['users']} | {r['served']:.4f} | {r['served_precision']:.4f} "
            f"| {r['errors']} | {r['median_ms']:.1f} | {rep['algorithm']} ({params or 'defaults'}) "
            f"| {rep['trials']} | {rep['search_s'] or 0:.0f} | {rep['train_s']:.0f} "
            f"| {offline['als']:.4f} | {offline['ease']:.4f} | {offline['implicit ALS']:.4f} "
            f"| {r['served'] / best - 1:+.1%} | {r['served'] / offline['implicit ALS'] - 1:+.1%} |"
        )
    lines += [
        "",
        "Goal: served NDCG@10 within 1% of the best offline model on both, and above tuned "
        "implicit ALS. Before model search (2026-12-06, issue 20): MovieLens-100k served 0.4224.",
    ]
    for r in results:
        if r["diagnosis"]:
            lines += [
                "",
                f"Where the 15% went ({r['dataset']}, offline, the same split): ALS fitted on the "
                "matrix as the store builds it (each rating weighs its event type's 3.0) or as "
                "bench-quality reads it (1.0), at the default or the tuned hyperparameters.",
                "",
                "| cell value | hyperparameters | NDCG@10 |",
                "| ---: | --- | ---: |",
            ]
            lines += [
                f"| {d['weight']:.1f} | {d['params']} | {d['ndcg']:.4f} |" for d in r["diagnosis"]
            ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="movielens,rees46")
    parser.add_argument("--trials", type=int, default=8, help="grid points per offline model")
    parser.add_argument("--budget", type=int, default=0, help="search budget (0: the default)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().split()[0]
    results = []
    for name in args.datasets.split(","):
        results.append(bench_dataset(name, args))
    section = table(results, args, load)
    print("\n" + section)
    if not args.no_write:
        write_section(section)


if __name__ == "__main__":
    main()
