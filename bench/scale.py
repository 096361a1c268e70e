"""``python bench/scale.py [--scales 0.01 0.1]``: how the platform's costs grow with the store.

For each scale (a fraction of issue 19's store: 1,000,000 users, 100,000 products, 20,000,000
interactions, 2,000,000 follows, 50,000 articles, 10,000 ads, 1,000 offers, 5,000 FAQ entries),
on a PostgreSQL database of its own (``bench_scale``, created before and dropped after every
scale):

- import: ``manage.py generate_store --scale S`` (COPY into the migrated schema, indexes on), wall
  time, rows/s over all rows written, the command's peak resident memory, the database's size;
- the products training set alone (``build_dataset``, streamed from PostgreSQL) in a process of
  its own: wall time and peak resident memory;
- training: the products scenario's default model (ALS) with model search off, run as the
  training task runs it (``engine.versions.run_training``) in a process of its own: wall time,
  the time of each phase (from the version's progress messages), peak resident memory
  (``ru_maxrss`` of the process, from ``os.wait4``) and the artifact's size on disk. The promotion's
  list precomputation is not run (issue 19 times it on N Celery workers); instead the per-user
  cost of ``score_users`` is timed on a sample of 300 users;
- serving: gunicorn with the project's gunicorn.conf.py (2 sync workers, each loads the
  promoted model before it takes requests) on the same database: each worker's resident memory
  (VmRSS, and its anonymous part) after the load, and p50/p99 of
  ``GET /api/v1/products/recommendations`` from 4 HTTPX client threads for ``--serve-seconds``
  (no precomputed lists: every answer folds the user's events into the model; the client shares
  the 2 cores with the server).

Each scale runs under ``flock /tmp/bench.lock`` (the lock every benchmark on this machine
takes), so no other benchmark runs beside it. The table goes to bench/RESULTS.md
("## Scale (bench-scale)") and the plot of cost against size to bench/scale.png.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import platform as stdlib_platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from results_file import write_section  # noqa: E402
from serve import THREAD_LIMITS, free_port  # noqa: E402

SECTION = "## Scale (bench-scale)"
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
DATABASE = "bench_scale"
LOCK = "/tmp/bench.lock"
PLOT = ROOT / "bench" / "scale.png"
FULL = {"users": 1_000_000, "items": 100_000, "interactions": 20_000_000}
SCORE_SAMPLE = 300

TRAIN = r"""
import json, sys, time
import django
django.setup()
from engine import versions
from engine.models import ModelVersion, ScenarioConfig
marks = []
_set_progress = ModelVersion.set_progress
def set_progress(self, fraction, message=""):
    marks.append((time.monotonic(), message))
    _set_progress(self, fraction, message)
ModelVersion.set_progress = set_progress
versions.send = lambda *args, **kwargs: None  # no list precomputation on promotion: timed apart
config = ScenarioConfig.for_slug("products")
config.settings = {"model_search": False}
config.save()
version = versions.request_training("products", triggered_by="bench-scale")
started = time.monotonic()
version = versions.run_training(version.pk)
wall = time.monotonic() - started
version.refresh_from_db()  # promote() saved its own copy
phases, previous = {}, (started, "start")
for moment, message in marks + [(started + wall, "end")]:
    phases[previous[1]] = phases.get(previous[1], 0.0) + moment - previous[0]
    previous = (moment, message)
print(json.dumps({"version": version.pk, "status": version.status, "error": version.error[:2000],
                  "train_s": wall, "phases": phases, "metrics": version.metrics,
                  "snapshot": version.data_snapshot, "artifact_path": version.artifact_path}))
"""

DATASET = r"""
import json, time
import django
django.setup()
from engine import registry
scenario = registry.get("products")
settings = scenario.effective_settings({"model_search": False})
started = time.monotonic()
data = scenario.build_dataset(settings)
seconds = time.monotonic() - started
print(json.dumps({"seconds": seconds, "snapshot": data.snapshot(), "nnz": int(data.matrix.nnz),
                  "segments": int(data.memberships.shape[1])}))
"""

SCORE = r"""
import json, random, time
import django
django.setup()
from catalog.models import ApiKey, User
from engine import registry
from engine.models import ModelVersion
version = ModelVersion.objects.get(pk={version})
scenario = registry.get("products")
ids = list(User.objects.order_by("?").values_list("external_id", flat=True)[:{sample}])
scenario.score_users(version, lambda *a: None, user_ids=ids[:20])  # loads the model
started = time.monotonic()
found = scenario.score_users(version, lambda *a: None, user_ids=ids)
seconds = time.monotonic() - started
_, key = ApiKey.create_key("bench-scale", ["read"])
print(json.dumps({{"score_ms_per_user": 1000 * seconds / max(len(ids), 1), "scored": len(found),
                   "key": key, "users": User.objects.count()}}))
"""


def pg_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(pg_url("postgres"), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')


def drop_database() -> None:
    import psycopg

    with psycopg.connect(pg_url("postgres"), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')


def database_sizes() -> dict[str, int]:
    import psycopg

    with psycopg.connect(pg_url(DATABASE)) as connection:
        database, interactions = connection.execute(
            "SELECT pg_database_size(current_database()), "
            "pg_total_relation_size('catalog_interaction')"
        ).fetchone()
    return {"database_bytes": database, "interaction_table_bytes": interactions}


def environment(var_dir: Path) -> dict[str, str]:
    """PostgreSQL, in-process (eager) Celery and local-memory cache: the scale of the database
    is what is measured, not the broker's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(THREAD_LIMITS)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=pg_url(DATABASE),
        RECO_VAR_DIR=str(var_dir),
        DJANGO_DEBUG="0",
        LOG_LEVEL="ERROR",
        API_KEY_THROTTLE_RATE="100000000/min",
    )
    return env


def measured(command: list[str], env: dict[str, str], timeout: float) -> dict:
    """Run ``command``; its wall seconds, peak resident MB (ru_maxrss) and last stdout line."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=err)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                process.kill()
                os.wait4(process.pid, 0)
                raise TimeoutError(f"{command[:3]} ran past the --timeout of {timeout:.0f} s")
            time.sleep(0.1)
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({process.returncode}):\n{stderr[-3000:]}")
    return {
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "last_line": stdout.strip().splitlines()[-1] if stdout.strip() else "",
    }


def folder_bytes(path: str) -> int:
    return sum(file.stat().st_size for file in Path(path).rglob("*") if file.is_file())


def worker_memory(master_pid: int) -> list[dict[str, float]]:
    """VmRSS and RssAnon (MB) of each gunicorn worker (the master's children)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    rows = []
    for child in children:
        fields = {}
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile"):
                fields[name] = int(value.split()[0]) / 1024
        rows.append(fields)
    return rows


def load_run(port: int, key: str, user_ids: list[str], seconds: float, threads: int = 4):
    """Latencies (ms) of recommendations for random users from ``threads`` HTTPX clients."""
    import httpx

    latencies: list[float] = []
    failures = [0]
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        headers = {"Authorization": f"Api-Key {key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as c:
            while time.monotonic() < stop_at:
                user = rng.choice(user_ids)
                began = time.perf_counter()
                response = c.get("/api/v1/products/recommendations", params={"user_id": user})
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        failures[0] += 1

    pool = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, failures[0]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(share * len(ordered))) - 1)]


def serve(env: dict[str, str], key: str, users: int, seconds: float) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--chdir", "platform"]
        + ["--config", "gunicorn.conf.py", "-w", "2", "-b", f"127.0.0.1:{port}"]
        + ["--log-level", "warning", "--timeout", "300"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import httpx

        width = len(str(users - 1))
        user_ids = [f"g0-u{k:0{width}d}" for k in range(users)]
        started = time.monotonic()
        while True:  # the workers answer once they loaded the model (post_worker_init)
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/products/recommendations",
                    params={"user_id": user_ids[0]},
                    headers={"Authorization": f"Api-Key {key}"},
                    timeout=120,
                )
                if response.status_code != 200:
                    raise RuntimeError(f"recommendations answered {response.status_code}")
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() - started > 300:
                    raise
                time.sleep(0.5)
        ready_s = time.monotonic() - started
        load_run(port, key, user_ids, seconds=3)  # warm both workers
        latencies, failures = load_run(port, key, user_ids, seconds=seconds)
        memory = worker_memory(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return {
        "ready_s": ready_s,
        "requests": len(latencies),
        "failures": failures,
        "rps": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.50) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) if latencies else float("nan"),
        "worker_rss_mb": max(row.get("VmRSS", 0) for row in memory),
        "worker_anon_mb": max(row.get("RssAnon", 0) for row in memory),
    }


def bench_scale(scale: float, serve_seconds: float, timeout: float, train: bool = True) -> dict:
    """One scale's figures; with ``train`` off, the import and the products dataset build
    alone (the training set's read from PostgreSQL, its peak memory)."""
    var_dir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    env = environment(var_dir)
    row: dict = {"scale": scale}
    recreate_database()
    try:
        python = [sys.executable]
        measured(python + ["manage.py", "migrate", "--noinput", "-v0"], env, timeout)
        imported = measured(
            python + ["manage.py", "generate_store", "--scale", str(scale), "--no-progress"],
            env,
            timeout,
        )
        row["import"] = imported
        row["summary"] = imported["last_line"]
        row.update(database_sizes())
        dataset = measured(python + ["-c", DATASET], env, timeout)
        row["dataset"] = {**dataset, **json.loads(dataset["last_line"])}
        if not train:
            return row
        try:
            trained = measured(python + ["-c", TRAIN], env, timeout)
        except TimeoutError as error:  # keep the import and dataset figures of this scale
            row["train_timeout"] = str(error)
            return row
        report = json.loads(trained["last_line"])
        if report["status"] != "promoted":
            raise RuntimeError(f"training {report['status']}: {report['error']}")
        row["train"] = {**trained, **report}
        row["artifact_bytes"] = folder_bytes(report["artifact_path"])
        scored = measured(
            python + ["-c", SCORE.format(version=report["version"], sample=SCORE_SAMPLE)],
            env,
            timeout,
        )
        row["score"] = json.loads(scored["last_line"])
        if serve_seconds > 0:
            row["serve"] = serve(env, row["score"]["key"], row["score"]["users"], serve_seconds)
    finally:
        drop_database()
    return row


def rows_written(r: dict) -> int:
    """Every row generate_store wrote, from the last line of its summary ("...; N rows.")."""
    return int(re.search(r"; (\d+) rows\.", r["summary"]).group(1))


def growth(rows: list[dict], value) -> str:
    """Exponent b of cost ~ size**b between each pair of successive scales measured."""
    points = [(r["scale"], value(r)) for r in rows if value(r)]
    if len(points) < 2:
        return "n/a"
    return ", ".join(
        f"{math.log(b / a) / math.log(s1 / s0):.2f} ({s0:g} to {s1:g})"
        for (s0, a), (s1, b) in zip(points, points[1:], strict=False)
    )


def dataset_seconds(r: dict) -> float | None:
    return r["dataset"]["seconds"]


def _get(r: dict, *path):
    for key in path:
        if not isinstance(r, dict) or key not in r:
            return None
        r = r[key]
    return r


METRICS = [
    ("import s", lambda r: r["import"]["wall_s"]),
    ("import peak RSS MB", lambda r: r["import"]["peak_rss_mb"]),
    ("database MB", lambda r: r["database_bytes"] / 2**20),
    ("dataset build s", dataset_seconds),
    ("dataset build peak RSS MB", lambda r: _get(r, "dataset", "peak_rss_mb")),
    ("training s", lambda r: _get(r, "train", "wall_s")),
    ("training peak RSS MB", lambda r: _get(r, "train", "peak_rss_mb")),
    ("evaluation s", lambda r: _get(r, "train", "phases", "evaluating on the held-out split")),
    ("artifact MB", lambda r: r["artifact_bytes"] / 2**20 if "artifact_bytes" in r else None),
    ("score_users ms/user", lambda r: _get(r, "score", "score_ms_per_user")),
    ("API worker RSS MB", lambda r: _get(r, "serve", "worker_rss_mb")),
    ("recommendations p99 ms", lambda r: _get(r, "serve", "p99_ms")),
]


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(3, 4, figsize=(16, 10))
    every = [r["scale"] * FULL["interactions"] for r in rows]
    span = (min(every), max(every))
    for axis, (label, value) in zip(axes.flat, METRICS, strict=True):
        points = [(r["scale"] * FULL["interactions"], value(r)) for r in rows if value(r)]
        if len(points) < 2:
            axis.set_visible(False)
            continue
        sizes, values = zip(*points, strict=True)
        axis.loglog(sizes, values, "o-", label="measured")
        axis.loglog(
            sizes, [values[0] * s / sizes[0] for s in sizes], "--", color="grey", label="linear"
        )
        axis.set_title(label)
        axis.set_xlabel("interactions")
        axis.set_xlim(span[0] / 1.5, span[1] * 1.5)
        axis.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend()
    figure.suptitle("bench-scale: cost against store size (PostgreSQL, 2 shared cores)")
    figure.tight_layout()
    figure.savefig(PLOT, dpi=80)


def _cell(value, spec: str = ".1f") -> str:
    return "not run" if value is None else format(value, spec)


def table(rows: list[dict], command: str, left_out: list[str], load: str) -> str:
    finished = max(r.get("finished", "") for r in rows) or f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    lines = [
        SECTION,
        "",
        f"Date: {finished} UTC. Machine: {os.cpu_count()} cores shared "
        f"with other agents' builds and tests ({stdlib_platform.processor() or 'x86_64'}), "
        f"PostgreSQL 15 on the same machine; load average before: {load}.",
        "",
        f"Command: `{command}` (each scale under `flock /tmp/bench.lock`; plot: bench/scale.png).",
        "",
        "| scale | users | products | interactions | rows written | import s | rows/s "
        "| import peak RSS MB | DB MB | dataset build s | dataset peak RSS MB | training s "
        "| training peak RSS MB "
        "| artifact MB | score ms/user | API worker RSS MB (anon) | p50 / p99 ms | req/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        snap = _get(r, "train", "snapshot") or _get(r, "dataset", "snapshot")
        serve_row = r.get("serve")
        served = (
            f"{serve_row['worker_rss_mb']:.0f} ({serve_row['worker_anon_mb']:.0f}) "
            f"| {serve_row['p50_ms']:.0f} / {serve_row['p99_ms']:.0f} | {serve_row['rps']:.0f}"
            if serve_row
            else "not run | not run | not run"
        )
        peak = _get(r, "train", "peak_rss_mb")
        peak_cell = "not run" if peak is None else f"{peak:,.0f}"
        artifact = r["artifact_bytes"] / 2**20 if "artifact_bytes" in r else None
        lines.append(
            f"| {r['scale']:g} | {snap['users']:,} | {snap['items']:,} | {snap['events']:,} "
            f"| {rows_written(r):,} | {r['import']['wall_s']:.1f} "
            f"| {rows_written(r) / r['import']['wall_s']:,.0f} "
            f"| {r['import']['peak_rss_mb']:.0f} | {r['database_bytes'] / 2**20:,.0f} "
            f"| {_cell(dataset_seconds(r))} | {r['dataset']['peak_rss_mb']:,.0f} "
            f"| {_cell(_get(r, 'train', 'wall_s'))} "
            f"| {peak_cell} | {_cell(artifact)} "
            f"| {_cell(_get(r, 'score', 'score_ms_per_user'))} | {served} |"
        )
    lines += ["", "Training phases (seconds, from the version's progress messages):", ""]
    for r in rows:
        if "train" not in r:
            continue
        phases = ", ".join(
            f"{name}: {seconds:.1f}"
            for name, seconds in r["train"]["phases"].items()
            if seconds >= 0.05
        )
        metrics = r["train"]["metrics"]
        lines.append(
            f"- scale {r['scale']:g}: {phases}. ndcg@10 {metrics.get('ndcg@10', float('nan')):.3f}."
        )
    if len(rows) > 1:
        lines += ["", "Growth exponent b (cost ~ size^b; 1 is linear):", ""]
        lines += [f"- {label}: {growth(rows, value)}" for label, value in METRICS]
    if left_out:
        lines += ["", "Left out: " + "; ".join(left_out) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--serve-seconds", type=float, default=15)
    parser.add_argument(
        "--train-max-scale",
        type=float,
        default=0.1,
        help="above this scale: import and the dataset build only (training, scoring and "
        "serving skipped)",
    )
    parser.add_argument("--timeout", type=float, default=1500, help="per step, seconds")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md alone")
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        help="write the table and plot from the JSON of earlier runs (var/bench-scale-*.json)",
    )
    options = parser.parse_args()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    rows = []
    if options.render:
        rows = sorted(
            (row for path in options.render for row in json.loads(path.read_text())),
            key=lambda row: row["scale"],
        )
        options.scales = []
        load = rows[0].get("load", load)
    for scale in options.scales:
        with open(LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            print(f"scale {scale}: running", file=sys.stderr, flush=True)
            rows.append(
                bench_scale(
                    scale,
                    options.serve_seconds,
                    options.timeout,
                    train=scale <= options.train_max_scale,
                )
            )
            rows[-1]["load"] = load
            rows[-1]["finished"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
        print(json.dumps(rows[-1], default=str), file=sys.stderr, flush=True)
    left_out = []
    scales = [row["scale"] for row in rows]
    if 1.0 not in scales:
        left_out.append(
            "scale 1.0 (20,000,000 interactions): not run in this session's time; "
            "`python bench/scale.py --scales 1.0` runs it"
        )
    left_out += [
        f"training at scale {row['scale']:g}: {row['train_timeout']}"
        for row in rows
        if "train_timeout" in row
    ]
    untrained = [f"{row['scale']:g}" for row in rows if "train" not in row]
    if untrained:
        left_out.append(
            f"training, scoring and serving at scale {', '.join(untrained)} (import and the "
            "dataset build only: see the evaluation row's growth)"
        )
    command = "python bench/scale.py --scales " + " ".join(f"{s:g}" for s in scales)
    if options.scales:  # first: a table that fails to render loses no measurement
        (ROOT / "var").mkdir(exist_ok=True)
        name = "bench-scale-" + "-".join(f"{s:g}" for s in scales) + ".json"
        (ROOT / "var" / name).write_text(json.dumps(rows, default=str, indent=1))
    text = table(rows, command, left_out, load)
    print(text)
    if not options.no_write:
        plot(rows)
        write_section(text)


if __name__ == "__main__":
    main()
