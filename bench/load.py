"""Mixed traffic for minutes against gunicorn + PostgreSQL + Redis + a Celery worker (issue 18).

The demo store of every scenario (``manage.py demo_setup``, model search off) on a PostgreSQL
database of its own; then, all at once for ``--minutes``: one wrk per read endpoint (products,
content feed, social suggestions, FAQ answers, ad serving, coupon offers) and one posting event
batches with unique event ids, each on its own connections, while a Python client serves ads
and clicks them, asks for offers and redeems them, and sends every click and redemption twice.
Reported: requests, p50/p99 and status classes per endpoint (any 5xx fails the run), the
gunicorn workers' and the Celery worker's resident memory at start and end, and what the
database holds afterwards: every accepted event once, every click and redemption charged once,
no campaign or offer over budget.

    .venv/bin/python bench/load.py --minutes 10        # make bench-load
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import psycopg
from results_file import write_section
from serve import (
    ROOT,
    THREAD_LIMITS,
    Gunicorn,
    load_average,
    lua_request,
    run_wrk_script,
    to_ms,
)

DATABASE = "recoplatform_load"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379"
CACHE_DB, BROKER_DB = 12, 13
USERS = [f"u{n:05d}" for n in range(1, 801)]
QUESTIONS = [
    "how do I return an item?",
    "where is my order?",
    "can I pay with a credit card?",
    "how long does shipping take?",
    "我的订单在哪里？",
    "怎么退货？",
]
# p99 goals the scenarios' issues name (ms); the others have none of their own.
GOALS = {"products": 10, "ads": 15, "faq": 30}

LUA = """
local requests = {requests}
local users = {users}
sent, s2, s4, s5 = 0, 0, 0, 0
local json_headers = {{}}
for name, value in pairs(wrk.headers) do json_headers[name] = value end
json_headers["Content-Type"] = "application/json"
request = function()
  sent = sent + 1
  local user = users[(sent - 1) % #users + 1]
  local r = requests[(sent - 1) % #requests + 1]
  local path = string.gsub(r[2], "USER", user)
  if r[3] then
    local body = string.gsub(string.gsub(r[3], "USER", user), "SEQ", "{tag}-" .. sent)
    return wrk.format(r[1], path, json_headers, body)
  end
  return wrk.format(r[1], path)
end
response = function(status, headers, body)
  if status >= 500 then s5 = s5 + 1 elseif status >= 400 then s4 = s4 + 1 else s2 = s2 + 1 end
end
local threads = {{}}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("STATUS %d %d %d\\n", t:get("s2"), t:get("s4"), t:get("s5")))
  end
end
"""


def lua_table(entries: list) -> str:
    return "{" + ", ".join(entries) + "}"


def wrk_script(tag: str, requests: list[str | tuple]) -> str:
    return LUA.format(
        requests=lua_table(lua_request(request) for request in requests),
        users=lua_table(f'"{u}"' for u in USERS),
        tag=tag,
    )


TRAFFIC = {
    "products": ["/api/v1/products/recommendations?user_id=USER&n=10"],
    "content": ["/api/v1/content/feed?user_id=USER&n=10"],
    "social": ["/api/v1/social/suggestions?user_id=USER&n=10"],
    "faq": [("POST", "/api/v1/faq/answer", {"query": q, "user_id": "USER"}) for q in QUESTIONS],
    "ads": [f"/api/v1/ads/serve?user_id=USER&slot={s}&n=1" for s in ("home", "product")],
    "coupons": ["/api/v1/coupons/offers?user_id=USER&n=1"],
    "events": [
        (
            "POST",
            "/api/v1/events",
            {
                "events": [
                    {"event_id": "SEQ", "user_id": "USER", "item_id": "p00012", "type": "view"}
                ]
            },
        )
    ],
}


def environment(var_dir: Path, broker: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL",)}
    env.update(THREAD_LIMITS)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONPATH=os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
        RECO_VAR_DIR=str(var_dir),
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        REDIS_URL=f"{REDIS}/{CACHE_DB}",
        API_KEY_THROTTLE_RATE="100000000/min",
        LOG_LEVEL="ERROR",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    if broker:
        env["CELERY_BROKER_URL"] = f"{REDIS}/{BROKER_DB}"
    return env


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def fresh_database() -> None:
    import redis

    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    for db in (CACHE_DB, BROKER_DB):
        redis.Redis.from_url(f"{REDIS}/{db}").flushdb()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_pids(master: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def run_wrk(
    name: str, port: int, key: str, seconds: int, connections: int, out: dict, tag: str = "load"
) -> None:
    output = run_wrk_script(
        port, key, wrk_script(f"{tag}-{name}", TRAFFIC[name]), seconds, connections
    )
    latency = {p: to_ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M)}
    found = re.search(r"^STATUS (\d+) (\d+) (\d+)$", output, re.M)
    if found is None:
        raise RuntimeError(f"unexpected wrk output for {name}:\n{output}")
    statuses = [int(count) for count in found.groups()]
    out[name] = {
        "n": sum(statuses),
        "rps": sum(statuses) / seconds,
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "2xx": statuses[0],
        "4xx": statuses[1],
        "5xx": statuses[2],
    }


def open_loop(port: int, key: str, seconds: int, rate: float, out: dict) -> None:
    """Every endpoint at ``rate`` requests/s with Poisson arrivals, sent at their time whether
    or not earlier answers came back (open loop: a slow answer does not hold the next request
    back), each latency counted from the moment its request was due. In a process of its own,
    so the feedback client's thread never holds its event loop back."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        out.update(pool.submit(_open_loop_results, port, key, seconds, rate).result())


def _open_loop_results(port: int, key: str, seconds: int, rate: float) -> dict:
    out: dict = {}
    asyncio.run(_open_loop(port, key, seconds, rate, out))
    return out


async def _open_loop(port: int, key: str, seconds: int, rate: float, out: dict) -> None:
    headers = {"Authorization": f"Api-Key {key}"}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30, limits=limits
    ) as client:
        await asyncio.gather(*(_paced(client, name, seconds, rate, out) for name in TRAFFIC))


async def _paced(client, name: str, seconds: int, rate: float, out: dict) -> None:
    loop = asyncio.get_running_loop()
    waits = random.Random(name)
    latencies, statuses, sends = [], {"2xx": 0, "4xx": 0, "5xx": 0}, []

    async def send(number: int, due: float) -> None:
        method, path, body = _request(name, number)
        response = await client.request(method, path, json=body)
        latencies.append(1000 * (loop.time() - due))
        status = response.status_code
        statuses["5xx" if status >= 500 else "4xx" if status >= 400 else "2xx"] += 1

    started = due = loop.time()
    number = 0
    while True:
        due += waits.expovariate(rate)
        if due - started > seconds:
            break
        await asyncio.sleep(max(0.0, due - loop.time()))
        number += 1
        sends.append(asyncio.ensure_future(send(number, due)))
    await asyncio.gather(*sends)
    p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (0.0, 0.0)
    out[name] = {
        "n": len(latencies),
        "rps": len(latencies) / seconds,
        "p50": float(p50),
        "p99": float(p99),
    }
    out[name].update(statuses)


def _request(name: str, number: int) -> tuple[str, str, object]:
    """The ``number``-th request of endpoint ``name`` (as the wrk script would build it)."""
    entries = TRAFFIC[name]
    entry = entries[(number - 1) % len(entries)]
    user = USERS[(number - 1) % len(USERS)]
    if isinstance(entry, str):
        return "GET", entry.replace("USER", user), None
    method, path, body = entry
    text = json.dumps(body).replace("USER", user).replace("SEQ", f"load-{name}-{number}")
    return method, path, json.loads(text)


def feedback_client(
    port: int, key: str, stop: threading.Event, tally: dict, rate: float = 0
) -> None:
    """Serve an ad and click it (twice), ask for an offer and redeem it (twice), in a loop; with a
    rate, ``rate`` turns a second on average (exponential waits)."""
    headers = {"Authorization": f"Api-Key {key}"}
    waits = random.Random(0)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", headers=headers, timeout=30) as c:
        turn = 0
        while not stop.is_set():
            if rate and stop.wait(waits.expovariate(rate)):
                break
            user = USERS[turn % len(USERS)]
            turn += 1
            ad = c.get("/ads/serve", params={"user_id": user, "slot": "home", "n": 1})
            tally["5xx"] += ad.status_code >= 500
            if ad.status_code == 200 and ad.json()["items"]:
                body = ad.json()
                click = {
                    "recommendation_id": body["recommendation_id"],
                    "ad_id": body["items"][0]["ad_id"],
                    "user_id": user,
                }
                for _ in range(2):
                    status = c.post("/ads/click", json=click).status_code
                    tally["5xx"] += status >= 500
                tally["clicks"] += 1
            offers = c.get("/coupons/offers", params={"user_id": user, "n": 1})
            tally["5xx"] += offers.status_code >= 500
            if offers.status_code == 200 and offers.json()["items"]:
                redeem = {
                    "user_id": user,
                    "offer_id": offers.json()["items"][0]["offer_id"],
                    "basket_total": "250.00",
                    "event_id": f"load-redeem-{turn}",
                }
                for _ in range(2):
                    status = c.post("/coupons/redeem", json=redeem).status_code
                    tally["5xx"] += status >= 500
                tally["redeems"] += 1


def database_checks() -> dict:
    with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{DATABASE}") as connection:

        def one(sql: str):
            return connection.execute(sql).fetchone()[0]

        return {
            "load_events": one(
                "SELECT count(*) FROM catalog_interaction WHERE event_id LIKE 'load-events-%'"
            ),
            "duplicate_event_ids": one(
                "SELECT count(*) - count(DISTINCT event_id) FROM catalog_interaction "
                "WHERE event_id LIKE 'load-%'"
            ),
            "clicks_charged_twice": one(
                "SELECT count(*) FROM (SELECT recommendation_id, ad_id FROM ads_click "
                "GROUP BY 1, 2 HAVING count(*) > 1) twice"
            ),
            "campaigns_over_budget": one(
                "SELECT count(*) FROM ads_campaign WHERE total_budget IS NOT NULL "
                "AND spent_total > total_budget"
            ),
            "redemptions_twice": one(
                "SELECT count(*) - count(DISTINCT event_id) FROM coupons_redemption"
            ),
            "offers_over_budget": one(
                "SELECT count(*) FROM coupons_offer WHERE spent > total_budget"
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=1, help="Per endpoint.")
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="Requests/s per endpoint, open loop with Poisson arrivals (an asyncio client); "
        "0: wrk, each connection as fast as it is answered.",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    parser.add_argument("--no-write", action="store_true", help="Print, do not update RESULTS.md.")
    args = parser.parse_args()
    seconds = int(args.minutes * 60)
    started = datetime.now(UTC)
    var_dir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    fresh_database()
    setup_env = environment(var_dir, broker=False)  # trainings in-process, on PostgreSQL
    t0 = time.monotonic()
    manage(setup_env, "migrate", "--noinput", "-v0")
    manage(setup_env, "demo_setup", "--search-budget", "0", "--no-progress")
    setup_s = time.monotonic() - t0
    key = manage(setup_env, "create_api_key", "--name", "load", "--scopes", "read,write").strip()

    env = environment(var_dir, broker=True)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", "1", "-l", "warning"],
        cwd=ROOT / "platform",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Gunicorn(env, workers=args.workers)
    try:
        time.sleep(5)  # workers warm up (gunicorn.conf.py loads every served version)
        for name in TRAFFIC:  # one request each: every endpoint answers before the clock starts
            run_wrk(name, server.port, key, 2, 1, {}, tag="warm")
        pids = worker_pids(server.process.pid)
        rss_start = {pid: rss_mb(pid) for pid in pids}
        celery_start = rss_mb(worker.pid)
        load_before = load_average()
        results: dict = {}
        tally = {"5xx": 0, "clicks": 0, "redeems": 0}
        stop = threading.Event()
        if args.rate:
            threads = [
                threading.Thread(
                    target=open_loop, args=(server.port, key, seconds, args.rate, results)
                )
            ]
        else:
            threads = [
                threading.Thread(
                    target=run_wrk,
                    args=(name, server.port, key, seconds, args.connections, results),
                )
                for name in TRAFFIC
            ]
        threads.append(
            threading.Thread(
                target=feedback_client, args=(server.port, key, stop, tally, args.rate / 2)
            )
        )
        for thread in threads:
            thread.start()
        for thread in threads[:-1]:
            thread.join()
        stop.set()
        threads[-1].join()
        rss_end = {pid: rss_mb(pid) for pid in pids if Path(f"/proc/{pid}").exists()}
        celery_end = rss_mb(worker.pid)
        restarted = len(rss_end) < len(pids) or set(worker_pids(server.process.pid)) != set(pids)
        load_after = load_average()
    finally:
        server.stop()
        worker.terminate()
        worker.wait(timeout=60)
    checks = database_checks()
    lost = results["events"]["2xx"] - checks["load_events"]
    total_5xx = sum(row["5xx"] for row in results.values()) + tally["5xx"]

    lines = [
        "## Load: every scenario at once (bench/load.py)",
        "",
        f"{started:%Y-%m-%d %H:%M} UTC, {args.minutes:g} minutes, `.venv/bin/python bench/load.py "
        f"--minutes {args.minutes:g}{f' --rate {args.rate:g}' if args.rate else ''}`; 2 cores "
        "shared by the server, the Celery worker, PostgreSQL, Redis and every client (load "
        f"average before {load_before}, after {load_after}). gunicorn {args.workers} sync "
        "workers + 1 Celery worker on PostgreSQL + Redis; the demo store of every scenario "
        f"(`demo_setup`, model search off, {setup_s:.0f} s). "
        + (
            f"Open loop: {args.rate:g} requests/s per endpoint, Poisson arrivals, from one asyncio "
            "client (httpx); each latency counts from the moment its request was due, so a "
            "request held back by a slow one is counted as late"
            if args.rate
            else f"Closed loop: wrk, {args.connections} connection(s) per endpoint, each "
            "sending its next request when the last is answered"
        )
        + "; plus a client serving and clicking ads and redeeming offers, each click and "
        "redemption sent twice.",
        "",
        "| endpoint | requests | req/s | p50 ms | p99 ms | p99 goal | 2xx | 4xx | 5xx |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, row in results.items():
        goal = f"{GOALS[name]}" if name in GOALS else "-"
        lines.append(
            f"| {name} | {row['n']:,} | {row['rps']:.1f} | {row['p50'] or 0:.1f} | "
            f"{row['p99'] or 0:.1f} | {goal} | {row['2xx']:,} | {row['4xx']:,} | {row['5xx']} |"
        )
    rss_rows = ", ".join(
        f"{rss_start[pid]:.0f} -> {rss_end.get(pid, 0):.0f}" for pid in sorted(rss_start)
    )
    lines += [
        "",
        f"- 5xx: {total_5xx} in all (the feedback client's included). Ad clicks: "
        f"{tally['clicks']:,} served-and-clicked twice, clicks charged twice: "
        f"{checks['clicks_charged_twice']}; campaigns over budget: "
        f"{checks['campaigns_over_budget']}. Redemptions tried twice: {tally['redeems']:,}, "
        f"charged twice: {checks['redemptions_twice']}; offers over budget: "
        f"{checks['offers_over_budget']}.",
        f"- Events accepted (2xx): {results['events']['2xx']:,}; in the database: "
        f"{checks['load_events']:,} (lost: {max(lost, 0)}; written but answered after wrk's "
        f"clock stopped: {max(-lost, 0)}); duplicate event ids: "
        f"{checks['duplicate_event_ids']}.",
        f"- Resident memory, MB, start -> end: gunicorn workers {rss_rows}"
        f"{' (a worker was restarted)' if restarted else ''}; Celery worker "
        f"{celery_start:.0f} -> {celery_end:.0f}.",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_section(section)
    if total_5xx or lost > 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
