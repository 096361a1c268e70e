"""Serving bench for any scenario's endpoints, as ``bench/serve.py`` measures products.

A scenario's benchmark (bench/ads.py, bench/faq.py, ...) hands over a Django setup script that
builds its store and trains (it must print one JSON line with at least ``"key"``: a read API
key) and the requests to time; this starts gunicorn with the project's gunicorn.conf.py on the
chosen backend, warms every endpoint, then alternates the trivial floor endpoint with each
endpoint for a few rounds and keeps each figure's median, so a shared machine's jumps hit both
sides alike. A request is a GET path, or ``(method, path, json_body)``.

    from scenario_serve import SETUP_HEAD, SETUP_TAIL, Endpoint, bench_endpoints, serve_table

    setup = SETUP_HEAD + "...build the store, train...\\n" + SETUP_TAIL
    info, rows = bench_endpoints(setup, [Endpoint("ads/serve", paths)])
    lines = serve_table(rows)
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

from serve import Gunicorn, backend_env, median_of, prepare_postgres_and_redis, run_json

# The setup script's first and last lines: Django on the bench settings with a migrated
# database; then a read key and the JSON line the harness reads (add keys to ``report``).
SETUP_HEAD = """
import json, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
report = {}
"""
SETUP_TAIL = """
from catalog.models import ApiKey
_, report["key"] = ApiKey.create_key("bench", ["read", "write"])
print(json.dumps(report))
"""
FLOOR = "/api/v1/bench/floor"


@dataclass
class Endpoint:
    label: str
    requests: list  # GET paths or (method, path, json_body), asked in turn


def bench_endpoints(
    setup_script: str,
    endpoints: list[Endpoint],
    *,
    backend: str = "embedded",
    seconds: int = 10,
    warmup: int = 3,
    connections: int = 8,
    rounds: int = 3,
) -> tuple[dict, list[dict]]:
    """Run the setup, serve it with gunicorn and time the floor and each endpoint.

    Returns the setup's report and one row per endpoint (the floor first), each with p50/p99
    ms, req/s, worker CPU ms per request, request and non-2xx counts."""
    if backend == "postgresql+redis":
        why_not = prepare_postgres_and_redis()
        if why_not:
            raise RuntimeError(f"PostgreSQL + Redis not ready: {why_not}")
    var_dir = Path(tempfile.mkdtemp(prefix="bench-scenario-"))
    env = backend_env(backend, var_dir)
    report = run_json(setup_script, env)
    server = Gunicorn(env)
    run = functools.partial(server.measure, key=report["key"], connections=connections)
    samples: dict[str, list[dict]] = {"floor": [], **{e.label: [] for e in endpoints}}
    try:
        run([FLOOR], seconds=warmup)
        for endpoint in endpoints:
            run(endpoint.requests, seconds=warmup)
        for _ in range(rounds):
            samples["floor"].append(run([FLOOR], seconds=seconds))
            for endpoint in endpoints:
                samples[endpoint.label].append(run(endpoint.requests, seconds=seconds))
    finally:
        server.stop()
    rows = [
        {"endpoint": label, "backend": backend, **median_of(runs)}
        for label, runs in samples.items()
    ]
    rows[0]["endpoint"] = "trivial DRF endpoint (floor)"
    return report, rows


def serve_table(rows: list[dict]) -> list[str]:
    """Markdown lines: one row per endpoint with its cost against the same backend's floor."""
    lines = [
        "| backend | endpoint | p50 ms | p99 ms | req/s | requests | non-2xx "
        "| worker CPU ms/request | req/s vs floor |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    floors = {row["backend"]: row for row in rows if "floor" in row["endpoint"]}
    for row in rows:
        floor = floors[row["backend"]]
        lines.append(
            f"| {row['backend']} | {row['endpoint']} | {row['p50']:.1f} | {row['p99']:.1f} "
            f"| {row['rps']:,.0f} | {row['n']:,} | {row['non_2xx']} | {row['cpu_ms']:.2f} "
            f"| {row['rps'] / floor['rps']:.2f} |"
        )
    return lines


SERVE_METHOD = (
    "Server: gunicorn with the project's `gunicorn.conf.py` (2 sync workers, one BLAS thread "
    "each, `DJANGO_DEBUG=0`), API key, throttle and impression logging on; wrk on the same "
    "machine (`-t1 -c8 --latency`), each endpoint warmed, then floor and endpoints alternate "
    "for 3 rounds of 10 s and each figure is the median (`bench/scenario_serve.py`)."
)
