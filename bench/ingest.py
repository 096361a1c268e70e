"""Ingestion throughput: events/s through ``POST /api/v1/events`` into PostgreSQL behind gunicorn.

``make bench-ingest`` runs it with DATABASE_URL / REDIS_URL / CELERY_BROKER_URL set. It

1. creates a fresh PostgreSQL database ``<NAME>_bench_ingest`` beside DATABASE_URL's and migrates,
2. creates a read/write API key (``manage.py create_api_key``) and the items (``/items/batch``),
3. starts gunicorn (``config.wsgi``, ``--chdir platform``) on 127.0.0.1,
4. posts ``--batches`` batches of ``--batch-size`` events from ``--clients`` threads (httpx,
   keep-alive), with users both new and repeated, stopping early after ``--max-seconds``,
5. prints a markdown table (events/s, p50/p99 batch latency) and writes it to bench/RESULTS.md
   under "## Ingestion (bench-ingest)", leaving the other sections alone,
6. stops gunicorn and drops the database.

Bodies are encoded before the clock starts, so the figure measures the server, not the client.
The target from the issue: 10,000 events/s (Gorse: 1,000 events in 62 ms on MySQL, 122 ms on
PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import platform as stdlib_platform
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import psycopg
from psycopg import sql
from results_file import RESULTS, write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Ingestion (bench-ingest)"
EVENT_TYPES = ("view", "view", "view", "view", "add_to_cart", "purchase")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200, help="Measured batches.")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=10, help="Unmeasured batches first.")
    parser.add_argument("--clients", type=int, default=2, help="Client threads.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
    parser.add_argument("--items", type=int, default=5000, help="Items created beforehand.")
    parser.add_argument("--users", type=int, default=50_000, help="Distinct users to draw from.")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="Stop sending after.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="Do not touch RESULTS.md.")
    return parser.parse_args(argv)


def bench_database_url() -> tuple[str, str, str]:
    """(admin URL on the ``postgres`` database, bench database URL, bench database name)."""
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("bench-ingest needs DATABASE_URL=postgres://... (run it with `make bench-ingest`)")
    name = f"{parts.path.lstrip('/') or 'reco'}_bench_ingest"
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    bench = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    return admin, bench, name


def recreate_database(admin_url: str, name: str, drop_only: bool = False) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(env: dict, port: int, workers: int, log_path: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi", "--chdir", "platform",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
        "--timeout", "120", "--log-level", "warning",
    ]  # fmt: skip
    log = log_path.open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return process


def wait_healthy(base_url: str, process: subprocess.Popen, log_path: Path, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base_url}/api/v1/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    sys.exit(
        f"gunicorn not healthy after {timeout}s:\n{log_path.read_text(errors='replace')[-3000:]}"
    )


def make_bodies(args, n_batches: int, prefix: str) -> list[bytes]:
    """Encoded batches. Users come from a pool: early batches bring mostly new users, later
    ones mostly repeat them, as on a live store."""
    rng = np.random.default_rng(args.seed)
    now = datetime.now(UTC)
    bodies = []
    for batch in range(n_batches):
        users = rng.integers(args.users, size=args.batch_size)
        items = rng.integers(args.items, size=args.batch_size)
        kinds = rng.integers(len(EVENT_TYPES), size=args.batch_size)
        seconds = rng.integers(0, 86_400, size=args.batch_size)
        events = [
            {
                "event_id": f"{prefix}-{batch}-{i}",
                "user_id": f"user-{users[i]}",
                "item_id": f"item-{items[i]}",
                "type": EVENT_TYPES[kinds[i]],
                "timestamp": (now - timedelta(seconds=int(seconds[i]))).isoformat(),
                "context": {"device": "web"},
            }
            for i in range(args.batch_size)
        ]
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def create_items(base_url: str, headers: dict, n_items: int) -> None:
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        for start in range(0, n_items, 1000):
            rows = [
                {"item_id": f"item-{i}", "title": f"Item {i}", "category": "bench/items"}
                for i in range(start, min(start + 1000, n_items))
            ]
            response = client.post("/api/v1/items/batch", json={"items": rows})
            response.raise_for_status()


def post_batches(base_url, headers, bodies, clients, max_seconds) -> tuple[list, int, float]:
    """Send every body once across ``clients`` threads; return (latencies, accepted, wall s)."""
    latencies, accepted, lock = [], [0], threading.Lock()
    queue = list(reversed(bodies))
    failures = []
    deadline = time.monotonic() + max_seconds

    def run():
        with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
            while time.monotonic() < deadline:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                started = time.perf_counter()
                response = client.post("/api/v1/events", content=body)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text[:300]}")
                    return
                with lock:
                    latencies.append(elapsed)
                    accepted[0] += response.json()["accepted"]

    threads = [threading.Thread(target=run) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if failures:
        sys.exit(f"a batch failed: {failures[0]}")
    return latencies, accepted[0], wall


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process from /proc (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_processes(server: subprocess.Popen, database_url: str, database: str) -> dict:
    """{"app": gunicorn worker pids, "database": PostgreSQL backend pids serving them}."""
    workers = [
        int(pid)
        for path in Path(f"/proc/{server.pid}/task").glob("*/children")
        for pid in path.read_text().split()
    ]
    with psycopg.connect(database_url) as conn:
        backends = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchall()
    return {"app": workers, "database": [row[0] for row in backends]}


def cpu_snapshot(processes: dict) -> dict:
    return {pid: process_cpu_seconds(pid) for pids in processes.values() for pid in pids}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def machine_line() -> str:
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores ({stdlib_platform.processor() or stdlib_platform.machine()}), "
        f"Python {stdlib_platform.python_version()}, PostgreSQL on the same host; "
        f"1-min load average {load:.1f} at the start (the machine is shared with other work, "
        "so figures are lower bounds)"
    )


def render(args, latencies, accepted, wall, cpu, load_note, server_version) -> str:
    rate = accepted / wall
    gorse_pg, gorse_mysql = 1000 / 0.122, 1000 / 0.062
    app_ms, db_ms = (cpu[role] / accepted * 1000 * 1000 for role in ("app", "database"))
    cores = os.cpu_count() or 1
    rows = [
        ("events accepted", f"{accepted:,}"),
        ("batches (size)", f"{len(latencies)} ({args.batch_size:,})"),
        ("wall time", f"{wall:.1f} s"),
        ("**throughput**", f"**{rate:,.0f} events/s**"),
        ("batch latency p50", f"{percentile(latencies, 50) * 1000:.0f} ms"),
        ("batch latency p99", f"{percentile(latencies, 99) * 1000:.0f} ms"),
        ("server CPU per 1,000 events", f"{app_ms:.0f} ms gunicorn + {db_ms:.0f} ms PostgreSQL"),
        (
            f"capacity of {cores} idle cores at that cost",
            f"{cores * 1000 * 1000 / (app_ms + db_ms):,.0f} events/s",
        ),
        ("goal", "10,000 events/s"),
        ("Gorse (published)", f"{gorse_pg:,.0f} events/s PostgreSQL, {gorse_mysql:,.0f} MySQL"),
    ]
    table = "\n".join(
        ["| metric | value |", "| --- | ---: |", *[f"| {name} | {value} |" for name, value in rows]]
    )
    return "\n".join(
        [
            SECTION,
            "",
            f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {load_note}. "
            f"Server: gunicorn, {args.workers} sync workers; {server_version}. "
            f"Clients: {args.clients} httpx threads on loopback, bodies pre-encoded; "
            f"{args.items:,} items created first; users drawn from {args.users:,} ids "
            "(uniform: early batches bring new users, later ones repeat them). "
            "Server CPU is read from /proc for the gunicorn workers and their PostgreSQL "
            "backends; on a shared machine it is the steadier figure, and the capacity row "
            "divides the cores by it (clients, other work and idle waits excluded).",
            "",
            "Command: `make bench-ingest` (`python bench/ingest.py "
            f"--batches {args.batches} --batch-size {args.batch_size} --clients {args.clients} "
            f"--workers {args.workers}`)",
            "",
            table,
            "",
        ]
    )


def main(argv=None) -> None:
    args = parse_args(argv)
    admin_url, bench_url, name = bench_database_url()
    load_note = machine_line()
    recreate_database(admin_url, name)
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-ingest-gunicorn-{os.getpid()}.log"
    env = {
        **os.environ,
        "DATABASE_URL": bench_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    server = None
    try:
        manage(env, "migrate", "--noinput")
        raw_key = manage(env, "create_api_key", "--name", "bench-ingest", "--scopes", "read,write")
        headers = {
            "Authorization": f"Api-Key {raw_key.strip()}",
            "Content-Type": "application/json",
        }
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = start_gunicorn(env, port, args.workers, log_path)
        wait_healthy(base_url, server, log_path)
        create_items(base_url, headers, args.items)
        print(f"encoding {args.warmup + args.batches} batches of {args.batch_size} events ...")
        warmup = make_bodies(args, args.warmup, "warmup")
        bodies = make_bodies(args, args.batches, "bench")
        post_batches(base_url, headers, warmup, args.clients, args.max_seconds)
        pg_url = bench_url.replace("postgres://", "postgresql://", 1)
        before = cpu_snapshot(server_processes(server, pg_url, name))
        latencies, accepted, wall = post_batches(
            base_url, headers, bodies, args.clients, args.max_seconds
        )
        # Persistent connections (CONN_MAX_AGE) keep the same backends; new ones started at 0.
        processes = server_processes(server, pg_url, name)
        cpu = {
            role: sum(process_cpu_seconds(pid) - before.get(pid, 0.0) for pid in pids)
            for role, pids in processes.items()
        }
        with psycopg.connect(pg_url) as conn:
            stored = conn.execute("SELECT count(*) FROM catalog_interaction").fetchone()[0]
            server_version = "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0]
        expected = accepted + args.warmup * args.batch_size
        if stored != expected:
            sys.exit(f"database holds {stored} events, the API accepted {expected}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        recreate_database(admin_url, name, drop_only=True)
    section = render(args, latencies, accepted, wall, cpu, load_note, server_version)
    print(section)
    if not args.no_write:
        write_section(section)
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
