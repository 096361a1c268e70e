"""``python bench/ads.py``: CTR quality and serving speed of the ads scenario.

Quality (``--parts demo,criteo``): DeepFM against logistic regression, each tuned alike on a
validation split (the grid below, best validation AUC, early stopping on validation log loss
for DeepFM), reported on a test split they never saw: AUC, log loss and expected calibration
error (10 equal-count bins of prediction).

- demo: the ads demo log (scenarios.ads.demo, whose clicks follow a hidden true CTR per user
  and ad) featurised by the scenario's own build_dataset (history counted point-in-time), split
  by time 60/20/20; the true CTR of the test impressions is the ceiling no model can pass.
- criteo: the labelled Criteo DAC tiny sample (1,999 rows), 3 random 60/20/20 splits.

Serving (``--parts serve``): /api/v1/ads/serve with 1,000 active campaigns and 10,000 ads (a
trained DeepFM, impression logging on) under gunicorn against the trivial floor endpoint,
through bench/scenario_serve.py. Prints markdown; writes the "## Ads (bench-ads)" section.

Profile (``--parts profile``): the same store on the embedded default, the WSGI handler called
in one process (no HTTP) for the serve requests and the floor: CPU ms per request without a
profiler, then cProfile's top functions (printed, not written). ``--store DIR`` keeps the store
in DIR and reuses it on the next run (no setup, no training).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
# The serving bench's own PostgreSQL database (read when bench/serve.py is imported just below),
# dropped before and after a run.
SERVE_PG_URL = "postgres://postgres@127.0.0.1:5432/recoplatform_bench_ads"
os.environ.setdefault("BENCH_PG_URL", SERVE_PG_URL)

from quality_families import best_of, grid, short  # noqa: E402
from results_file import write_section  # noqa: E402
from scenario_serve import (  # noqa: E402
    SERVE_METHOD,
    SETUP_HEAD,
    SETUP_TAIL,
    Endpoint,
    bench_endpoints,
    serve_table,
)
from serve import backend_env, run_json  # noqa: E402

from ml.metrics.classification import expected_calibration_error, log_loss, roc_auc  # noqa: E402

SECTION = "## Ads (bench-ads)"
LR_GRID = grid(l2=[1e-4, 1e-3, 1e-2, 1e-1], min_count=[1, 2, 5])
DEEPFM_GRID = grid(
    learning_rate=[3e-3, 1e-2], l2=[1e-5, 1e-3], hidden=[[64, 32]], dropout=[0.0, 0.3]
)
PUBLISHED = (
    "Published on the full Criteo data (45M rows; Guo et al., DeepFM, IJCAI 2017, Table 2): "
    "logistic regression AUC 0.7686, FM 0.7892, DeepFM 0.8007. Context only: not our data "
    "size, split or features."
)


def scores(y, p) -> dict:
    return {
        "auc": roc_auc(y, p),
        "logloss": log_loss(y, np.clip(p, 1e-7, 1 - 1e-7)),
        "ece": expected_calibration_error(y, p),
    }


def compare(train, valid, test) -> list[dict]:
    """Both models tuned alike on ``valid`` (val AUC); their scores on ``test``."""
    from ml.models.ctr import DeepFM, LogisticCTR

    rows = []
    for label, cls, configurations in (
        ("logistic regression", LogisticCTR, LR_GRID),
        ("DeepFM (TF)", DeepFM, DEEPFM_GRID),
    ):
        start = time.perf_counter()
        model, params, _ = best_of(
            configurations,
            lambda p, cls=cls: cls(**p).fit(*train, validation=valid),
            lambda m: roc_auc(valid[2], m.predict_proba(valid[0], valid[1])),
        )
        rows.append(
            {
                "model": label,
                **scores(test[2], model.predict_proba(test[0], test[1])),
                "params": short(params),
                "seconds": time.perf_counter() - start,
                "best": (cls, params),
            }
        )
    return rows


# ----- the demo log (runs inside Django: bench settings, a fresh SQLite database) -------------
def demo_quality(scale: float, seed: int = 0) -> dict:
    """Seed the demo store and the ads log; compare the models and the true-CTR ceiling."""
    from catalog.management.commands.seed_demo import write_store
    from ml.datasets.demo import generate_demo_store
    from scenarios.ads import demo
    from scenarios.ads.models import Impression
    from scenarios.ads.scenario import AdsScenario

    write_store(generate_demo_store(n_users=1000, n_products=400, seed=seed), seed, False)
    truth = demo.seed_store(rng=np.random.default_rng(seed), scale=scale)
    numeric, categorical, y, _ = AdsScenario().build_dataset({})
    order = Impression.objects.order_by("timestamp", "pk").values_list("recommendation_id")
    true_ctr = np.array([truth[rec] for (rec,) in order])
    n = len(y)
    cuts = [slice(0, int(0.6 * n)), slice(int(0.6 * n), int(0.8 * n)), slice(int(0.8 * n), n)]
    train, valid, test = ((numeric[c], categorical[c], y[c]) for c in cuts)
    rows = compare(train, valid, test)
    for row in list(rows):  # the same tuned settings, the history columns zeroed
        cls, params = row["best"]
        blank = [np.zeros_like(part[0]) for part in (train, valid, test)]
        model = cls(**params).fit(blank[0], train[1], train[2], (blank[1], *valid[1:]))
        rows.append(
            {
                "model": f"{row['model']}, no history features",
                **scores(test[2], model.predict_proba(blank[2], test[1])),
                "params": row["params"],
                "seconds": 0.0,
            }
        )
    rows.append({"model": "true CTR (ceiling)", **scores(test[2], true_ctr[cuts[2]]), "params": ""})
    for row in rows:
        row.pop("best", None)
    return {
        "rows": rows,
        "impressions": n,
        "clicks": int(y.sum()),
        "test": int(len(test[2])),
        "test_clicks": int(test[2].sum()),
        "ads": len(set(categorical[:, 0].tolist())),
    }


DEMO_SCRIPT = (
    SETUP_HEAD
    + """
from ads import demo_quality
report.update(demo_quality(scale=SCALE))
"""
    + "print(json.dumps(report))\n"
)


def criteo_quality(repeats: int = 3) -> dict:
    from ml.datasets.criteo import load_criteo_tiny

    data = load_criteo_tiny("train")
    n = len(data)
    by_model: dict[str, list[dict]] = {}
    for repeat in range(repeats):
        order = np.random.default_rng(repeat).permutation(n)
        parts = [order[: int(0.6 * n)], order[int(0.6 * n) : int(0.8 * n)], order[int(0.8 * n) :]]
        train, valid, test = (
            (data.numeric[p], data.categorical[p], data.labels[p].astype(float)) for p in parts
        )
        for row in compare(train, valid, test):
            row.pop("best")
            by_model.setdefault(row["model"], []).append(row)
    return {"by_model": by_model, "rows": n, "clicks": int(data.labels.sum())}


def quality_table(rows: list[dict]) -> list[str]:
    lines = [
        "| model | AUC | log loss | ECE | tuned on validation AUC |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['model']} | {r['auc']:.4f} | {r['logloss']:.4f} | {r['ece']:.4f} | {r['params']} |"
        for r in rows
    ]
    return lines


def criteo_table(by_model: dict[str, list[dict]]) -> list[str]:
    lines = [
        "| model | AUC | log loss | ECE | tuned on validation AUC (per split) |",
        "|---|---:|---:|---:|---|",
    ]
    for model, runs in by_model.items():

        def spread(key, runs=runs):
            values = [r[key] for r in runs]
            return f"{np.mean(values):.4f} ± {np.std(values):.4f}"

        params = "; ".join(r["params"] for r in runs)
        lines.append(
            f"| {model} | {spread('auc')} | {spread('logloss')} | {spread('ece')} | {params} |"
        )
    return lines


# ----- serving ------------------------------------------------------------------------------
SERVE_SETUP = (
    SETUP_HEAD
    + """
from datetime import timedelta
from decimal import Decimal
import numpy as np
from django.utils import timezone
from catalog.management.commands.seed_demo import write_store
from catalog.models import Item, User
from engine.models import ModelVersion
from ml.datasets.demo import generate_demo_store
from scenarios.ads.inventory import bump_generation
from scenarios.ads.models import Ad, Advertiser, Campaign, Click, Impression, Slot
from engine.models import ScenarioConfig

rng = np.random.default_rng(0)
# The PostgreSQL bench database outlives a run: start from an empty store.
from catalog.models import Interaction
for model in (Click, Impression, Ad, Campaign, Advertiser, Slot, Interaction, User, Item):
    model.objects.all().delete()
ModelVersion.objects.filter(scenario="ads").delete()
write_store(generate_demo_store(n_users=2000, n_products=400, seed=0), 0, False)
items, users = list(Item.objects.filter(kind="product")), list(User.objects.all())
now = timezone.now()
slots = [Slot.objects.create(name=n, positions=p, reserve_price=r)
         for n, p, r in (("home", 3, 0.05), ("product", 2, 0.1), ("checkout", 1, 0.2))]
advertisers = [Advertiser.objects.create(name=f"advertiser {a}") for a in range(100)]
locations = sorted({u.location for u in users if u.location})
segments = sorted({s for u in users for s in u.segments})
departments = sorted({i.category.split("/")[0] for i in items})
campaigns = []
for c in range(CAMPAIGNS):
    draw = rng.random(3)
    campaigns.append(Campaign(
        advertiser=advertisers[c % len(advertisers)], name=f"campaign {c}",
        start=now - timedelta(days=7), end=now + timedelta(days=30),
        daily_budget=Decimal(1000), total_budget=Decimal(100000),
        bid_per_click=Decimal(str(round(0.1 + 2 * rng.random(), 2))),
        target_locations=[locations[c % len(locations)]] if draw[0] < 0.2 and locations else [],
        target_segments=[segments[c % len(segments)]] if draw[1] < 0.2 and segments else [],
        target_categories=[departments[c % len(departments)]] if draw[2] < 0.2 else [],
    ))
campaigns = Campaign.objects.bulk_create(campaigns)
ads = Ad.objects.bulk_create(
    Ad(ad_id=f"ad-{c}-{k}", campaign=campaign, creative_text="Buy now",
       item=items[int(rng.integers(len(items)))])
    for c, campaign in enumerate(campaigns) for k in range(ADS_PER_CAMPAIGN)
)
bump_generation()  # bulk_create sends no signals
base = rng.normal(-3.5, 0.6, len(ads))
impressions, clicks = [], []
for n in range(LOG):
    a, user, slot = int(rng.integers(len(ads))), users[int(rng.integers(len(users)))], slots[n % 3]
    when = now - timedelta(days=1 + 5 * rng.random())
    rec = f"ads.log.{n}"
    impressions.append(Impression(user=user, ad=ads[a], slot=slot, recommendation_id=rec,
                                  position=1, price=Decimal("0.1"), device="mobile",
                                  hour=when.hour, timestamp=when))
    if rng.random() < 1 / (1 + np.exp(-base[a])):
        clicks.append(Click(user=user, ad=ads[a], recommendation_id=rec, price=0, timestamp=when))
Impression.objects.bulk_create(impressions, batch_size=5000)
Click.objects.bulk_create(clicks, batch_size=5000)
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
config = ScenarioConfig.for_slug("ads")
# DeepFM itself (no model search, which may serve logistic regression instead).
config.settings = {**config.settings, "model": "deepfm", "model_search": False,
                   "hyperparameters": {"epochs": 5}}
config.save()
started = time.perf_counter()
call_command("train", "ads", "--wait")
version = ModelVersion.objects.filter(scenario="ads").latest("pk")
report.update(version=version.pk, status=version.status, error=version.error,
              train_seconds=round(time.perf_counter() - started, 1),
              algorithm=version.algorithm,
              auc=version.metrics.get("auc"), campaigns=Campaign.objects.count(),
              ads=Ad.objects.count(), log=len(impressions), log_clicks=len(clicks))
"""
    + SETUP_TAIL
)


PROFILE_SCRIPT = """
import cProfile, io, json, pstats, sys, time
import django
django.setup()
from django.core.wsgi import get_wsgi_application
from django.db import connection
from engine.serving import warm_up

warm_up()
application = get_wsgi_application()
KEY, PATHS, WARM, N = json.loads(sys.argv[1])


def environ(url):
    path, _, query = url.partition("?")
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(), "HTTP_AUTHORIZATION": f"Api-Key {KEY}",
            "HTTP_HOST": "127.0.0.1"}


def call(url):
    status = []
    body = b"".join(application(environ(url), lambda s, h, e=None: status.append(s)))
    if not status[0].startswith("200"):
        raise SystemExit(f"{url}: {status[0]} {body[:300]!r}")


def cpu_ms(paths, n):
    start = time.process_time()
    for k in range(n):
        call(paths[k % len(paths)])
    return (time.process_time() - start) * 1000 / n


report = {}
for name, paths in (("floor", ["/api/v1/bench/floor"]), ("serve", PATHS)):
    cpu_ms(paths, WARM)
    report[name] = min(cpu_ms(paths, N) for _ in range(3))
profile = cProfile.Profile(time.process_time)
profile.enable()
cpu_ms(PATHS, N)
profile.disable()
out = io.StringIO()
stats = pstats.Stats(profile, stream=out)
stats.sort_stats("cumulative").print_stats(60)
stats.sort_stats("tottime").print_stats(40)
report["profile"] = out.getvalue()
print(json.dumps(report))
"""


def profile(store: Path | None, campaigns: int, per: int, log: int, warm: int, n: int) -> dict:
    """CPU ms per request of the floor and the serve requests in one process, and a profile."""
    import json
    import subprocess
    import tempfile

    var_dir = store or Path(tempfile.mkdtemp(prefix="bench-ads-profile-"))
    var_dir.mkdir(parents=True, exist_ok=True)
    env = backend_env("embedded", var_dir)
    saved = var_dir / "report.json"
    if saved.exists():
        report = json.loads(saved.read_text())
    else:
        setup = (
            SERVE_SETUP.replace("CAMPAIGNS", str(campaigns))
            .replace("ADS_PER_CAMPAIGN", str(per))
            .replace("LOG", str(log))
        )
        report = run_json(setup, env)
        saved.write_text(json.dumps(report))
    arguments = json.dumps([report["key"], serve_paths(600), warm, n])
    done = subprocess.run(
        [sys.executable, "-c", PROFILE_SCRIPT, arguments],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"profile failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def serving(backends: list[str], seconds: int, rounds: int, campaigns: int, per: int, log: int):
    setup = (
        SERVE_SETUP.replace("CAMPAIGNS", str(campaigns))
        .replace("ADS_PER_CAMPAIGN", str(per))
        .replace("LOG", str(log))
    )
    endpoint = Endpoint("ads/serve (1,000 campaigns, 10,000 ads)", serve_paths(600))
    own_database = os.environ["BENCH_PG_URL"] == SERVE_PG_URL and "postgresql+redis" in backends
    if own_database:
        drop_database(SERVE_PG_URL)
    try:
        return [
            bench_endpoints(setup, [endpoint], backend=backend, seconds=seconds, rounds=rounds)
            for backend in backends
        ]
    finally:
        if own_database:
            drop_database(SERVE_PG_URL)


def drop_database(url: str) -> None:
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def serve_paths(users: int) -> list[str]:
    """Requests rotating over slots, devices and hours for demo users u00001... (the demo
    store's ids)."""
    devices, paths = ("mobile", "desktop"), []
    for n in range(users):
        user = f"u{n + 1:05d}"
        slot, count = (("home", 3), ("product", 2), ("checkout", 1))[n % 3]
        paths.append(
            f"/api/v1/ads/serve?slot={slot}&user_id={user}&n={count}"
            f"&device={devices[n % 2]}&hour={n % 24}"
        )
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="demo,criteo,serve")
    parser.add_argument("--demo-scale", type=float, default=10.0, help="x 4,000 impressions")
    parser.add_argument("--backends", default="embedded,postgresql+redis")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--ads-per-campaign", type=int, default=10)
    parser.add_argument("--log", type=int, default=30000, help="impressions to train on")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--store", type=Path, help="profile: keep and reuse the store here")
    parser.add_argument("--requests", type=int, default=1000, help="profile: timed requests")
    args = parser.parse_args()
    parts = args.parts.split(",")
    load = os.getloadavg()
    lines = [
        SECTION,
        "",
        f"Command: `flock /tmp/bench.lock python bench/ads.py --parts {args.parts}`",
    ]
    lines += [
        f"Load average at start (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
        "",
    ]
    if "demo" in parts:
        import tempfile

        env = backend_env("embedded", Path(tempfile.mkdtemp(prefix="bench-ads-")))
        demo = run_json(DEMO_SCRIPT.replace("SCALE", str(args.demo_scale)), env, timeout=3600)
        lines += [
            "### Demo log: DeepFM vs logistic regression vs the true CTR",
            "",
            f"{demo['impressions']:,} impressions ({demo['clicks']:,} clicks) of {demo['ads']} "
            "ads; split by time 60/20/20 (train / validation for tuning and early stopping / "
            f"test: {demo['test']:,} impressions, {demo['test_clicks']:,} clicks).",
            "",
            *quality_table(demo["rows"]),
            "",
        ]
    if "criteo" in parts:
        criteo = criteo_quality()
        lines += [
            "### Criteo DAC tiny sample",
            "",
            f"{criteo['rows']:,} labelled rows ({criteo['clicks']} clicks), 3 random 60/20/20 "
            "splits, mean ± std over them. About 400 test rows a split: differences under "
            "~0.03 AUC are noise.",
            "",
            *criteo_table(criteo["by_model"]),
            "",
            PUBLISHED,
            "",
        ]
    if "profile" in parts:
        found = profile(
            args.store, args.campaigns, args.ads_per_campaign, args.log, 300, args.requests
        )
        print(found["profile"])
        print(
            f"CPU ms per request in one process: floor {found['floor']:.3f}, "
            f"ads/serve {found['serve']:.3f}"
        )
        return
    if "serve" in parts:
        backends = args.backends.split(",")
        results = serving(
            backends, args.seconds, args.rounds, args.campaigns, args.ads_per_campaign, args.log
        )
        info = results[0][0]
        rows = [row for _, backend_rows in results for row in backend_rows]
        lines += [
            "### Serving /api/v1/ads/serve",
            "",
            f"{info['campaigns']:,} active campaigns, {info['ads']:,} ads (a fifth of campaigns "
            "target a location, a segment or a department), 3 slots; "
            f"{info['algorithm'] or 'DeepFM'} trained on "
            f"{info['log']:,} logged impressions ({info['train_seconds']} s, version "
            f"{info['status']}). Requests rotate over 600 users, the three slots, two devices "
            "and the hours; each answer logs its impressions and moves the user's history "
            "row. Goal: p99 <= 15 ms and at least half the floor's requests per second.",
            "",
            *serve_table(rows),
            "",
            SERVE_METHOD,
            "",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
