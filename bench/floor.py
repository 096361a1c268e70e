"""Per-request API overhead: a bare DRF endpoint vs. the same behind API-key auth and throttle.

Starts gunicorn (``config.wsgi``, ``--chdir platform``, 2 sync workers, one BLAS/OpenMP thread
each, DEBUG off) on the embedded default (SQLite + local-memory cache) in a throwaway var dir
and measures with wrk on 127.0.0.1, each endpoint for a fixed duration and connection count:

- bare: DRF view with no authentication, permission or throttle (the framework's floor),
- authed: the same view behind the API's default API-key auth, scope check and per-key throttle,
- item: GET /api/v1/items/{id}, a real endpoint (auth, throttle, one indexed query, serializer).

Every endpoint is measured ``--rounds`` times in turn and each figure is the median over
rounds, since the machine is shared. Besides wrk's figures it reports the gunicorn workers' CPU
time per request (from /proc), which other tenants' load disturbs far less than requests/s. The per-key throttle is on at a rate far above what two
workers can serve, so it costs its bookkeeping without refusing requests (``--throttle-rate ''``
turns it off to isolate its cost).
Needs wrk (Debian: ``apt-get install -y wrk``). Prints a markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serve import free_port, gunicorn_env, to_ms, workers_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
ITEM_ID = "sku-1"
SETUP = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from catalog.models import ApiKey, Item
Item.objects.create(external_id="{item_id}", title="A bench item", category="bench")
print(ApiKey.create_key(name="bench-floor", scopes=["read"])[1])
"""


def server_env(var_dir: Path, throttle_rate: str) -> dict[str, str]:
    return gunicorn_env("floor_settings", var_dir, throttle_rate)


def start_gunicorn(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--chdir", "platform"]
        + ["-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
        + ["--backlog", "2048"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start within 60 s")


def wrk(url: str, key: str | None, seconds: int, connections: int) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if key:
        command[1:1] = ["-H", f"Authorization: Api-Key {key}"]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate is None or set(latency) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output for {url}:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "rps": float(rate.group(1)),
        "p50": to_ms(latency["50"]),
        "p99": to_ms(latency["99"]),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def median_of_rounds(rounds: list[dict]) -> dict:
    """Each figure's median over the rounds: the machine is shared, single runs jump around."""
    return {name: statistics.median(round_[name] for round_ in rounds) for name in rounds[0]}


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per measurement")
    parser.add_argument(
        "--rounds", type=int, default=3, help="measure every endpoint this many times, in turn"
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--throttle-rate", default="100000000/min", help="per-key rate; '' turns throttling off"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")

    with tempfile.TemporaryDirectory(prefix="floor-") as var_dir:
        env = server_env(Path(var_dir), args.throttle_rate)
        setup = subprocess.run(
            [sys.executable, "-c", SETUP.format(item_id=ITEM_ID)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if setup.returncode != 0:
            sys.exit(f"setup failed:\n{setup.stderr[-4000:]}")
        key = setup.stdout.strip().splitlines()[-1]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        endpoints = [
            ("bare DRF (no auth)", "/api/v1/bench/bare", None),
            ("authed DRF (API key, scope, throttle)", "/api/v1/bench/authed", key),
            ("GET /api/v1/items/{id}", f"/api/v1/items/{ITEM_ID}", key),
        ]
        server = start_gunicorn(env, port, args.workers)
        try:
            for _, path, endpoint_key in endpoints:
                wrk(base + path, endpoint_key, 3, args.connections)  # warm-up: imports, caches
            rounds = {name: [] for name, _, _ in endpoints}
            for _ in range(args.rounds):
                for name, path, endpoint_key in endpoints:
                    cpu_before = workers_cpu_seconds(server.pid)
                    result = wrk(base + path, endpoint_key, args.seconds, args.connections)
                    cpu_used = workers_cpu_seconds(server.pid) - cpu_before
                    result["cpu_ms"] = 1000 * cpu_used / result["requests"]
                    rounds[name].append(result)
            rows = [(name, median_of_rounds(results)) for name, results in rounds.items()]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)

    bare_rps = rows[0][1]["rps"]
    print(
        f"wrk -t1 -c{args.connections} -d{args.seconds}s, median of {args.rounds} rounds, "
        f"gunicorn -w {args.workers} (sync), "
        f"throttle rate {args.throttle_rate or 'off'!r}, load average after: {load_average()}\n"
    )
    bare_cpu_ms = rows[0][1]["cpu_ms"]
    print(
        "| endpoint | requests/s | p50 ms | p99 ms | non-2xx | worker CPU ms/request "
        "| cost vs bare (requests/s) | cost vs bare (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, result in rows:
        print(
            f"| {name} | {result['rps']:,.0f} | {result['p50']:.2f} | {result['p99']:.2f} "
            f"| {result['non_2xx']:.0f} | {result['cpu_ms']:.3f} | {bare_rps / result['rps']:.2f}x "
            f"| {result['cpu_ms'] / bare_cpu_ms:.2f}x |"
        )


if __name__ == "__main__":
    main()
