"""``make bench-serve``: latency and throughput of the products recommendations endpoint.

For each backend (the embedded default: SQLite + local-memory cache; and PostgreSQL + Redis when
reachable) it builds a store of 10k items and 10k users, trains and scores the products scenario,
starts gunicorn with the project's gunicorn.conf.py (2 sync workers, one BLAS/OpenMP thread
each) and drives it with wrk (one thread, a few connections, a Lua script rotating over
many users) on the same machine, measuring:

- floor: a trivial DRF endpoint with the same API-key auth and throttle,
- precomputed: recommendations served from the scoring queue's cached lists,
- uncached: every request is a user's first (lists flushed), so the model scores it (fold-in).

API-key auth, the per-key throttle (at a rate that never refuses) and impression counting are on
in every run. ``--movielens`` also times training products on MovieLens-100k imported into the database.
The markdown table is printed and written into bench/RESULTS.md under "## Serving (bench-serve)".
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform as stdlib_platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from results_file import write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Serving (bench-serve)"
THREAD_LIMITS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/recoplatform_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
REDIS_LOCK_KEY = "recoplatform:integration-session"  # integration runs skip a db holding it
# --model: the products settings the bench store trains with, and how the table names them.
STORE_MODELS = {
    "itemknn": (
        {"model": "itemknn", "hyperparameters": {"neighbours": 50}},
        "item-kNN (50 neighbours)",
    ),
    "als": ({"model": "als"}, "ALS (the products default settings)"),
}

SETUP = r"""
import json, sys, time
from datetime import timedelta
import numpy as np
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.utils import timezone
from catalog.models import ApiKey, Interaction, Item, User
from engine.models import ModelVersion, ScenarioConfig
n_items, n_users, per_user = {n_items}, {n_users}, {per_user}
rng = np.random.default_rng(7)
Interaction.objects.all().delete(); User.objects.all().delete(); Item.objects.all().delete()
ModelVersion.objects.all().delete()
categories = [f"dept{{d}}/cat{{c}}" for d in range(10) for c in range(10)]
Item.objects.bulk_create(
    [Item(external_id=f"i{{i}}", title=f"Item {{i}}", category=categories[i % 100],
          price=float(5 + i % 300)) for i in range(n_items)], batch_size=2000)
User.objects.bulk_create([User(external_id=f"u{{u}}", age_band=str(u % 5)) for u in range(n_users)],
                         batch_size=2000)
items = dict(Item.objects.values_list("external_id", "pk"))
users = dict(User.objects.values_list("external_id", "pk"))
now = timezone.now()
popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
popularity /= popularity.sum()
events = []
for u in range(n_users):
    taste = u % 100  # users like one category, plus popular items
    own = np.arange(taste, n_items, 100)
    chosen = np.r_[rng.choice(own, per_user // 2), rng.choice(n_items, per_user - per_user // 2, p=popularity)]
    for k, i in enumerate(np.unique(chosen)):
        events.append(Interaction(user_id=users[f"u{{u}}"], item_id=items[f"i{{i}}"],
                                  event_type="purchase" if k % 5 == 0 else "view",
                                  timestamp=now - timedelta(minutes=int(rng.integers(1, 10000)))))
    if len(events) >= 20000:
        Interaction.objects.bulk_create(events, batch_size=5000); events = []
Interaction.objects.bulk_create(events, batch_size=5000)
# Steady state, not the aftermath of a bulk load: planner statistics for the new rows, and
# PostgreSQL's dirty pages written now rather than by a checkpoint in the middle of a row.
from django.db import connection
with connection.cursor() as cursor:
    if connection.vendor == "postgresql":
        cursor.execute("VACUUM ANALYZE"); cursor.execute("CHECKPOINT")
    else:
        cursor.execute("ANALYZE")
config = ScenarioConfig.for_slug("products")
config.settings = {settings}
config.save()
started = time.monotonic()
call_command("train", "products", "--wait")
version = ModelVersion.objects.get(scenario="products", status="promoted")
_, key = ApiKey.create_key("bench", ["read"])
print(json.dumps({{"key": key, "version": version.pk, "train_and_score_s": time.monotonic() - started,
                   "events": Interaction.objects.count(), "scored": version.scored_users}}))
"""

MOVIELENS = r"""
import json, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from catalog.models import Interaction, Item, User
from engine.models import ModelVersion, ScenarioConfig
Interaction.objects.all().delete(); User.objects.all().delete(); Item.objects.all().delete()
ModelVersion.objects.all().delete()
started = time.monotonic()
call_command("import_dataset", "movielens", "{path}", "--no-progress")
imported = time.monotonic() - started
config = ScenarioConfig.for_slug("products")
config.settings = {{"model": "{model}", "active_user_days": 3650}}  # score every user
config.save()
started = time.monotonic()
call_command("train", "products", "--wait")
total = time.monotonic() - started
version = ModelVersion.objects.get(scenario="products", status="promoted")
print(json.dumps({{"import_s": imported, "train_to_scored_s": total, "fit_evaluate_s": version.train_seconds,
                   "ndcg": version.primary_value, "users": version.scored_users,
                   "events": Interaction.objects.count()}}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_env(settings_module: str, var_dir: Path, throttle_rate: str) -> dict[str, str]:
    """Environment of a benchmarked server: embedded default, one BLAS thread per worker."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    }
    env.update(THREAD_LIMITS)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT / "platform"), str(ROOT)]),
        DJANGO_SETTINGS_MODULE=settings_module,
        RECO_VAR_DIR=str(var_dir),
        DJANGO_DEBUG="0",
        LOG_LEVEL="ERROR",
        API_KEY_THROTTLE_RATE=throttle_rate,
    )
    return env


def backend_env(backend: str, var_dir: Path) -> dict[str, str]:
    # The per-key throttle stays on (a fixed-window counter: one cache INCR per request) at a
    # rate the bench never reaches.
    env = gunicorn_env("serve_settings", var_dir, throttle_rate="100000000/min")
    if backend == "postgresql+redis":
        env.update(DATABASE_URL=PG_URL, REDIS_URL=REDIS_URL)
    return env


def run_json(script: str, env: dict[str, str], timeout: int = 1800) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"setup failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare_postgres_and_redis() -> str | None:
    """Create the bench database if missing and hold a Redis db; None when ready, else why not."""
    try:
        import psycopg
        import redis

        parts = re.match(r"(.*/)([^/]+)$", PG_URL)
        with psycopg.connect(parts.group(1) + "postgres", autocommit=True) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [parts.group(2)]
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{parts.group(2)}"')
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        client.set(REDIS_LOCK_KEY, os.getpid(), ex=3600)
    except Exception as error:  # report and skip the backend, the embedded run still counts
        return f"{type(error).__name__}: {error}"
    return None


def workers_cpu_seconds(master_pid: int) -> float:
    """User + system CPU seconds the gunicorn workers have used so far (Linux /proc)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    ticks = 0
    for pid in children:
        # Fields after the command name (which may hold spaces): utime and stime are 12th, 13th.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class Gunicorn:
    def __init__(self, env: dict[str, str], workers: int = 2, extra: tuple[str, ...] = ()):
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--chdir",
                "platform",
                "--config",
                "gunicorn.conf.py",  # the production settings: sync workers, BLAS threads, warm-up
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                *extra,
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker stuck in a request: don't leak the server
            self.process.kill()
            self.process.wait()

    def measure(self, paths: list[str], **options) -> dict:
        """:func:`measure`, plus the workers' CPU milliseconds per answered request."""
        before = workers_cpu_seconds(self.process.pid)
        row = measure(self.port, paths, **options)
        row["cpu_ms"] = (workers_cpu_seconds(self.process.pid) - before) * 1000 / max(row["n"], 1)
        return row


# wrk prints latencies as 1.23ms, 456.00us or 1.01s.
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}

# Rotates over the requests in order, one per request, across all connections; with a limit, stops
# once that many responses arrived (so an "uncached" row never asks for a user twice). A request
# is a GET path, or (method, path, JSON body) for endpoints that take a body.
LUA = """
local requests = {{{requests}}}
local limit = {limit}
local sent, answered = 0, 0
local json_headers = {{}}
for name, value in pairs(wrk.headers) do json_headers[name] = value end
json_headers["Content-Type"] = "application/json"
request = function()
  sent = sent + 1
  local r = requests[(sent - 1) % #requests + 1]
  if r[3] then return wrk.format(r[1], r[2], json_headers, r[3]) end
  return wrk.format(r[1], r[2])
end
{response}
"""
LUA_STOP = """response = function(status, headers, body)
  answered = answered + 1
  if answered >= limit then wrk.thread:stop() end
end"""


def to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNIT_MS[unit]


def lua_request(request: str | tuple[str, str, object]) -> str:
    """One entry of the Lua script's request table (a body goes in a long bracket string)."""
    if isinstance(request, str):
        return f'{{"GET", "{request}"}}'
    method, path, body = request
    return f'{{"{method}", "{path}", [==[{json.dumps(body)}]==]}}'


def run_wrk_script(port: int, key: str, script: str, seconds: float, connections: int) -> str:
    """wrk's output for one run (one thread) of the Lua ``script`` with the API key."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        return subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua.name]
            + ["-H", f"Authorization: Api-Key {key}", f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(lua.name)


def measure(
    port: int, paths: list, key: str, seconds: float, connections: int, limit: int = 0
) -> dict:
    """One wrk run (one thread, keep-alive where the server allows) over ``paths`` in turn."""
    script = LUA.format(
        requests=", ".join(lua_request(path) for path in paths),
        limit=limit,
        response=LUA_STOP if limit else "",
    )
    output = run_wrk_script(port, key, script, seconds, connections)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate is None or set(latency) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "n": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50": to_ms(latency["50"]),
        "p99": to_ms(latency["99"]),
        "rps": float(rate.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def median_of(runs: list[dict]) -> dict:
    """Each numeric figure's median over the runs (request counts summed)."""
    merged = {
        name: statistics.median(run[name] for run in runs)
        for name in ("p50", "p99", "rps", "cpu_ms")
    }
    merged["n"] = sum(run["n"] for run in runs)
    merged["non_2xx"] = sum(run["non_2xx"] for run in runs)
    merged["socket_errors"] = "; ".join(
        run["socket_errors"] for run in runs if run["socket_errors"]
    )
    return merged


def bench_backend(backend: str, args) -> list[dict]:
    var_dir = Path(tempfile.mkdtemp(prefix=f"bench-serve-{backend.replace('+', '-')}-"))
    env = backend_env(backend, var_dir)
    print(f"[{backend}] building the store and training ...", flush=True)
    setup = run_json(
        SETUP.format(
            n_items=args.items,
            n_users=args.users,
            per_user=args.per_user,
            settings=repr(STORE_MODELS[args.model][0]),
        ),
        env,
    )
    key, version = setup["key"], setup["version"]
    print(
        f"[{backend}] {setup['events']} events, trained and scored {setup['scored']} users "
        f"in {setup['train_and_score_s']:.1f} s",
        flush=True,
    )
    users = [
        f"/api/v1/products/recommendations?user_id=u{u}&n=10"
        for u in np.random.default_rng(1).permutation(args.users)
    ]
    hot = users[: args.hot_users]
    # Reserved for warming each worker (the model loads before the first request; the catalog
    # snapshot and the database connections on the first ones); never in the uncached row.
    model_warmup, users = users[-200:], users[:-200]
    rows = []
    server = Gunicorn(env, extra=tuple(shlex.split(args.gunicorn_args)))
    run = functools.partial(server.measure, key=key, connections=args.connections)
    try:
        run(["/api/v1/bench/floor"], seconds=args.warmup)  # imports, connections
        if backend == "postgresql+redis":
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            for name in client.scan_iter(match=f"*engine:list:products:{version}:*", count=5000):
                client.delete(name)
        run(model_warmup, seconds=args.warmup, limit=len(model_warmup))
        # Users in a fixed order, each asked once (wrk stops when they run out): every request
        # is that user's first since the lists were flushed, so the model scores it.
        uncached = run(users, seconds=args.seconds, limit=len(users))
        # The first hot users again, several passes: their lists are cached now (each worker's
        # local memory on the embedded default, so both workers must have seen each user; Redis
        # on the production setup).
        run(hot, seconds=args.warmup * 3)
        # Floor and precomputed alternate for a few rounds; the table keeps each figure's
        # median, since one run on a shared machine jumps around.
        rounds: dict[str, list[dict]] = {"floor": [], "precomputed": []}
        for _ in range(args.rounds):
            rounds["floor"].append(run(["/api/v1/bench/floor"], seconds=args.seconds))
            rounds["precomputed"].append(run(hot, seconds=args.seconds))
    finally:
        server.stop()
    rows.append({"endpoint": "trivial DRF endpoint (floor)", **median_of(rounds["floor"])})
    rows.append({"endpoint": "recommendations, uncached (fold-in scoring)", **uncached})
    rows.append(
        {"endpoint": "recommendations, precomputed lists", **median_of(rounds["precomputed"])}
    )
    for row in rows:
        row["backend"] = backend
        print(
            f"[{backend}] {row['endpoint']}: p50 {row['p50']:.1f} ms, p99 {row['p99']:.1f} ms, "
            f"{row['rps']:.0f} req/s, {row['cpu_ms']:.2f} worker CPU ms/request, "
            f"{row['n']} requests, {row['non_2xx']} non-2xx, "
            f"socket errors: {row['socket_errors'] or 'none'}",
            flush=True,
        )
    return rows


def movielens(args) -> dict | None:
    path = Path(os.environ.get("RECO_DATA_DIR", ROOT.parent / "shared" / "data")) / "movielens-100k"
    if not path.is_dir():
        print(f"MovieLens-100k not found at {path}; skipping the training timing")
        return None
    var_dir = Path(tempfile.mkdtemp(prefix="bench-serve-movielens-"))
    env = backend_env("embedded", var_dir)
    print("[movielens] importing and training products ...", flush=True)
    result = run_json(MOVIELENS.format(path=path, model=args.movielens_model), env)
    result["model"] = args.movielens_model
    print(f"[movielens] {result}", flush=True)
    return result


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def table(rows: list[dict], args, training: dict | None, skipped: str | None, load: str) -> str:
    lines = [
        SECTION,
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {os.cpu_count()} cores "
        f"({stdlib_platform.machine()}), Python {stdlib_platform.python_version()}, shared with "
        f"other work (1-min load average {load} at the start), so figures are lower bounds.",
        f"Store: {args.items:,} items, {args.users:,} users, about {args.per_user} events each; "
        f"products scenario on {STORE_MODELS[args.model][1]}. Server: gunicorn with the project's "
        "`gunicorn.conf.py` (2 sync workers"
        + (f"; plus `{args.gunicorn_args}`" if args.gunicorn_args else "")
        + ", "
        "`OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1`: one BLAS thread per worker, "
        "models loaded before the first request), `DJANGO_DEBUG=0`. Every request carries an "
        "API key, passes the per-key throttle (fixed-window counter, rate set high enough never "
        "to refuse) and each recommendation counts an impression (counted in the worker, pushed "
        "to the cache once a second). "
        f"Load: wrk on the same machine, `-t1 -c{args.connections} --latency`, "
        f"{args.seconds} s per run after a {args.warmup} s warm-up; a Lua script rotates over "
        "users in a fixed random order: the uncached row asks each user once (it stops when "
        f"the {args.users - 200:,} users run out; 200 other users warm both workers first), the "
        f"precomputed row cycles over {args.hot_users:,} users after a {args.warmup * 3} s pass "
        "that caches their lists in both workers. Floor and precomputed alternate for "
        f"{args.rounds} rounds and the table gives each figure's median (requests summed). "
        "Worker CPU ms/request is the gunicorn workers' user + system time (/proc) over the "
        "requests answered: the steadier cost figure on a shared machine.",
        "",
        "Command: `make bench-serve` (`python bench/serve.py`)",
        "",
        "| backend | endpoint | p50 ms | p99 ms | req/s | requests | non-2xx "
        "| worker CPU ms/request | cost vs floor (req/s) | cost vs floor (CPU) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    floors = {row["backend"]: row for row in rows if "floor" in row["endpoint"]}
    for row in rows:
        floor = floors[row["backend"]]
        lines.append(
            f"| {row['backend']} | {row['endpoint']} | {row['p50']:.1f} | {row['p99']:.1f} "
            f"| {row['rps']:,.0f} | {row['n']:,} | {row['non_2xx']} | {row['cpu_ms']:.2f} "
            f"| {floor['rps'] / row['rps']:.2f}x | {row['cpu_ms'] / floor['cpu_ms']:.2f}x |"
        )
    if skipped:
        lines += ["", f"PostgreSQL + Redis run skipped: {skipped}"]
    lines += [
        "",
        "Goals: precomputed p99 <= 10 ms and >= 2,000 req/s; uncached p99 <= 25 ms; "
        "recommendations at most 1.5x the floor's cost.",
    ]
    if training:
        lines += [
            "",
            f"Training on MovieLens-100k imported into the database ({training['events']:,} events, "
            f"embedded default, eager tasks, model {training['model']}): import "
            f"{training['import_s']:.1f} s; `train products --wait` (dataset build, fit, evaluate, "
            f"refit, promote) then scoring {training['users']} users: "
            f"{training['train_to_scored_s']:.1f} s end to end (fit + evaluate "
            f"{training['fit_evaluate_s']:.1f} s); NDCG@10 on the held-out split {training['ndcg']:.4f}. "
            "Goal: under 2 minutes.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--per-user", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per row")
    parser.add_argument("--warmup", type=int, default=3, help="wrk warm-up seconds")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="floor/precomputed alternations")
    parser.add_argument(
        "--gunicorn-args", default="", help="extra gunicorn options, e.g. '-k sync' to compare"
    )
    parser.add_argument("--hot-users", type=int, default=1_000, help="users in the precomputed row")
    parser.add_argument("--backends", default="embedded,postgresql+redis")
    parser.add_argument(
        "--model", choices=sorted(STORE_MODELS), default="itemknn", help="bench store's model"
    )
    parser.add_argument("--movielens", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--movielens-model", default="als")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the finally: stop gunicorn
    load = load_average()
    rows, skipped = [], None
    for backend in filter(None, args.backends.split(",")):
        if backend == "postgresql+redis":
            skipped = prepare_postgres_and_redis()
            if skipped:
                print(f"skipping PostgreSQL + Redis: {skipped}")
                continue
        rows += bench_backend(backend, args)
    training = movielens(args) if args.movielens else None
    section = table(rows, args, training, skipped, load)
    print("\n" + section)
    if not args.no_write:
        write_section(section)


if __name__ == "__main__":
    main()
