"""``python bench/precompute.py [--scales 0.01 0.1] [--workers 1 2]``: how long precomputing every
active user's products list takes on N Celery workers, and how it scales with N.

For each scale (a fraction of issue 19's store, as bench/scale.py generates it, catalog only), on
a PostgreSQL database of its own (``bench_precompute``, dropped after) with Redis as the cache and
the broker (two Redis databases claimed the way the integration tests claim theirs, flushed
before each run): ``generate_store``, then the products
scenario's default model (ALS, model search off) trained and left unpromoted. Then, for each N,
N worker processes (``celery worker -c 1 -Q scoring``) are started and answer a ping, the version
is sent to the scoring queue (``engine.score_version``, which splits the active users into shards
of ``scoring_shard_users`` and queues one ``engine.score_shard`` each), and the clock runs until
the version's ``scored_users`` reaches the number of active users. Reported: wall seconds, users
per second, the speed-up over N = 1, the workers' CPU seconds (from /proc), and the lists' size in
Redis. The workers, PostgreSQL and Redis share this machine's cores, so N is bounded by them.

Runs under ``flock /tmp/bench.lock`` like every timing benchmark here; results go to
bench/RESULTS.md ("## Scale: list precomputation on N workers (bench/precompute.py)").
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform as stdlib_platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from results_file import write_section  # noqa: E402
from serve import THREAD_LIMITS  # noqa: E402

SECTION = "## Scale: list precomputation on N workers (bench/precompute.py)"
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
DATABASE = "bench_precompute"
REDIS = "redis://127.0.0.1:6379"
CLAIMABLE_DBS = range(2, 16)  # as the integration tests claim them, with the same lock key
REDIS_LOCK_KEY = "recoplatform:integration-session"
LOCK = "/tmp/bench.lock"

TRAIN = r"""
import json
import django
django.setup()
from engine import registry, versions
from engine.models import ScenarioConfig
config = ScenarioConfig.for_slug("products")
config.settings = {"model_search": False, "auto_promote": False}
config.save()
version = versions.run_training(versions.request_training("products", triggered_by="bench").pk)
users = registry.get("products").users_to_score(version)
print(json.dumps({"version": version.pk, "status": version.status, "error": version.error[:2000],
                  "train_s": version.train_seconds, "users": len(users),
                  "shard_users": registry.get("products").effective_settings(
                      version.settings)["scoring_shard_users"]}))
"""

TRIGGER = r"""
import json, sys, time
import django
django.setup()
from engine import registry
from engine.models import ModelVersion
from engine.queues import send
version_id, users = int(sys.argv[1]), int(sys.argv[2])
ModelVersion.objects.filter(pk=version_id).update(status="promoted", scored_users=0)
started = time.monotonic()
send("engine.score_version", version_id, queue=registry.get("products").scoring_queue)
while ModelVersion.objects.values_list("scored_users", flat=True).get(pk=version_id) < users:
    if time.monotonic() - started > float(sys.argv[3]):
        sys.exit("timed out")
    time.sleep(0.1)
print(json.dumps({"wall_s": time.monotonic() - started}))
"""


def pg_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


def set_database(present: bool) -> None:
    import psycopg

    with psycopg.connect(pg_url("postgres"), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        if present:
            connection.execute(f'CREATE DATABASE "{DATABASE}"')


def environment(var_dir: Path, cache_db: int, broker_db: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(THREAD_LIMITS)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=pg_url(DATABASE),
        REDIS_URL=f"{REDIS}/{cache_db}",
        CELERY_BROKER_URL=f"{REDIS}/{broker_db}",
        RECO_VAR_DIR=str(var_dir),
        DJANGO_DEBUG="0",
        LOG_LEVEL="ERROR",
    )
    return env


def run(args: list[str], env: dict[str, str], timeout: float, cwd: Path = ROOT) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def redis_client(db: int):
    import redis

    return redis.Redis.from_url(f"{REDIS}/{db}")


def claim_dbs(count: int) -> list[int]:
    """Redis databases no integration run or other bench holds (its lock key set, for an hour)."""
    claimed = []
    for db in CLAIMABLE_DBS:
        if redis_client(db).set(REDIS_LOCK_KEY, os.getpid(), nx=True, ex=3600):
            claimed.append(db)
            if len(claimed) == count:
                return claimed
    release(claimed)
    raise RuntimeError("no free Redis database to claim")


def flush(dbs: list[int]) -> None:
    for db in dbs:
        redis_client(db).flushdb()
        redis_client(db).set(REDIS_LOCK_KEY, os.getpid(), ex=3600)


def release(dbs: list[int]) -> None:
    for db in dbs:
        redis_client(db).flushdb()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of ``pids`` and their children (a worker's pool process)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        for task in [pid, *children(pid)]:
            try:
                fields = Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def children(pid: int) -> list[int]:
    """Child processes of ``pid``, from each process's parent field in /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def start_workers(count: int, env: dict[str, str]) -> list[subprocess.Popen]:
    workers = [
        subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "celery"),
                "-A",
                "config",
                "worker",
                "-c",
                "1",
                "-Q",
                "scoring",
                "-n",
                f"bench{index}@%h",
                "-l",
                "warning",
            ],
            env=env,
            cwd=ROOT / "platform",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for index in range(count)
    ]
    ping = [str(ROOT / ".venv" / "bin" / "celery"), "-A", "config", "inspect", "ping", "-t", "2"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = subprocess.run(ping, env=env, cwd=ROOT / "platform", capture_output=True, text=True)
        if done.stdout.count("pong") >= count:
            return workers
        time.sleep(1)
    stop_workers(workers)
    raise RuntimeError(f"{count} workers did not answer a ping in 120 s")


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()


def list_bytes(client) -> tuple[int, int]:
    """Lists in the cache and their bytes (MEMORY USAGE of a sample of 200, times the count)."""
    keys = list(client.scan_iter("*engine:list:*", count=5000))
    if not keys:
        return 0, 0
    sample = keys[:: max(1, len(keys) // 200)]
    mean = sum(client.memory_usage(key) or 0 for key in sample) / len(sample)
    return len(keys), int(mean * len(keys))


def measure_scale(scale: float, worker_counts: list[int], timeout: float) -> dict:
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-precompute-") as var_dir:
        dbs = claim_dbs(2)
        env = environment(Path(var_dir), *dbs)
        set_database(True)
        try:
            run([python, "manage.py", "migrate", "--noinput", "-v0"], env, timeout)
            started = time.monotonic()
            run(
                [python, "manage.py", "generate_store", "--scale", str(scale), "--no-scenarios"]
                + ["--no-progress"],
                env,
                timeout,
            )
            import_s = time.monotonic() - started
            trained = json.loads(run([python, "-c", TRAIN], env, timeout))
            if trained["status"] != "succeeded":
                raise RuntimeError(f"training {trained['status']}: {trained['error']}")
            runs = []
            for count in worker_counts:
                flush(dbs)
                workers = start_workers(count, env)
                try:
                    pids = [worker.pid for worker in workers]
                    cpu_before = cpu_seconds(pids)
                    load = os.getloadavg()[0]
                    timing = json.loads(
                        run(
                            [python, "-c", TRIGGER, str(trained["version"]), str(trained["users"])]
                            + [str(timeout)],
                            env,
                            timeout + 30,
                        )
                    )
                    cpu = cpu_seconds(pids) - cpu_before
                finally:
                    stop_workers(workers)
                lists, size = list_bytes(redis_client(dbs[0]))
                runs.append(
                    {
                        "workers": count,
                        "wall_s": timing["wall_s"],
                        "cpu_s": cpu,
                        "lists": lists,
                        "list_bytes": size,
                        "load_before": load,
                    }
                )
                print(f"scale {scale}, {count} workers: {runs[-1]}", file=sys.stderr)
        finally:
            set_database(False)
            release(dbs)
    return {"scale": scale, "import_s": import_s, **trained, "runs": runs}


def render(results: list[dict], command: str, loads: tuple) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Date: {now}. Machine: {os.cpu_count()} cores ({stdlib_platform.machine()}), PostgreSQL "
        "and Redis on the same machine; load average before "
        f"{loads[0][0]:.2f}, after {loads[1][0]:.2f}.",
        "",
        f"Command: `{command}` (under `flock {LOCK}`).",
        "",
        "| scale | active users | shard users | shards | workers | wall s | users/s | speed-up "
        "over 1 worker | worker CPU s | CPU ms/user | lists in Redis | Redis MB of lists |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        one = next((r["wall_s"] for r in result["runs"] if r["workers"] == 1), None)
        shards = -(-result["users"] // result["shard_users"])
        for entry in result["runs"]:
            speedup = f"{one / entry['wall_s']:.2f}" if one else "-"
            lines.append(
                f"| {result['scale']:g} | {result['users']:,} | {result['shard_users']:,} | "
                f"{shards} | {entry['workers']} | {entry['wall_s']:.1f} | "
                f"{result['users'] / entry['wall_s']:,.0f} | {speedup} | {entry['cpu_s']:.1f} | "
                f"{1000 * entry['cpu_s'] / max(result['users'], 1):.2f} | {entry['lists']:,} | "
                f"{entry['list_bytes'] / 2**20:.1f} |"
            )
    lines.append("")
    lines.append(
        "Training before each scale (ALS, model search off, not timed here): "
        + "; ".join(f"{r['scale']:g}: {r['train_s']:.0f} s" for r in results)
        + ". The wall time runs from sending `engine.score_version` to the last shard's count; "
        "each worker loads the model on its first shard inside it."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--timeout", type=float, default=1800, help="per step, seconds")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md alone")
    args = parser.parse_args()
    command = "python bench/precompute.py --scales " + " ".join(f"{s:g}" for s in args.scales)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = os.getloadavg()
        results = [measure_scale(scale, args.workers, args.timeout) for scale in args.scales]
        after = os.getloadavg()
    text = render(results, command, (before, after))
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
