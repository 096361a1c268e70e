"""``python bench/faq.py``: the FAQ scenario's matchers (ml.models.faq_matching) on real data.

BM25 (bm25s), the TF dual encoder and their hybrid, each tuned on a validation split carved
from the training texts (a small grid per family; the hybrid's fusion weight on the same
validation), then scored once on the test queries:

- banking77 (each intent an FAQ entry): accuracy@1, Recall@3, MRR on the official test split,
  tuned on 1,000 training queries, then refit on the whole training split;
- StackFAQ (with 4 logged paraphrases per FAQ, the setting of bench/quality_families.py, whose
  splits and FAQ texts it reuses): P@5 and normalised P@5 over entries, every choice made by
  5 folds over the 5 non-test paraphrases of each FAQ;
- the demo FAQ's held-out paraphrases (scenarios/faq/demo_data.py), per language, with Chinese
  cut into character bigrams or jieba words (the measurement behind the default), trained as
  the scenario trains (validation = one stored paraphrase per entry, then refit on all);
- the hand-off trade-off: answer rate and accuracy of the answered queries per threshold on
  the best answer's probability (the scenario's softmax), as a table and bench/faq_handoff.png.

``--serve``: p99 of POST /api/v1/faq/answer under gunicorn against the floor endpoint, with
1,000 entries (bench/scenario_serve.py). Each part writes its own RESULTS section.
``--profile N``: the same store, N answers cProfiled in one process (what a request costs).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "platform", ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from quality_families import faq_texts, grid, short, stackfaq_splits  # noqa: E402
from results_file import write_section  # noqa: E402

from ml.metrics.text import normalized_precision_at_k, precision_at_k  # noqa: E402
from ml.models.faq_matching import Bm25sMatcher, FaqDualEncoder, FaqHybrid  # noqa: E402

SECTION = "## FAQ (bench-faq)"
SERVE_SECTION = "## FAQ: serving (bench-faq --serve)"
SEED = 0
THRESHOLDS = (0.0, 0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9)
BM25_GRID = grid(k1=[0.6, 1.2, 2.0], b=[0.3, 0.75, 1.0])
# answer_pool: an answer scored by the mean of its best 1, 3, 5 or 10 questions' scores
POOLS = (1, 3, 5, 10)
LABELS = {
    "bm25": "BM25 (bm25s)",
    "dual_encoder": "dual encoder (TF)",
    "hybrid": "hybrid",
    "oracle": "oracle: the query's own FAQ first",
}


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def ranks_of(scores: np.ndarray, answers: list, expected: list) -> np.ndarray:
    """1-based rank of each query's expected answer (ties count against it)."""
    position = {a: i for i, a in enumerate(answers)}
    right = scores[np.arange(len(expected)), [position[e] for e in expected]]
    return 1 + (scores > right[:, None]).sum(axis=1)


def confidence(scores: np.ndarray, temperature: float) -> np.ndarray:
    """The best answer's softmax probability over the finite scores, as the scenario serves."""
    shifted = (scores - scores.max(axis=1, keepdims=True)) / temperature
    weights = np.where(np.isfinite(shifted), np.exp(shifted), 0.0)
    return 1.0 / weights.sum(axis=1)


def pooled(model, pool: int):
    """``model`` scoring an answer by the mean of its ``pool`` best questions (no refit: the
    pool only changes how question scores become answer scores)."""
    other = copy.copy(model)
    other.params = {**model.params, "answer_pool": pool}
    return other


def best_pooled(configurations, fit, score, pools=POOLS):
    """``best_of`` with ``answer_pool`` tuned too: each configuration fitted once, then scored
    with every pool. Returns (best model, its params with the pool, its validation score)."""
    best = (None, None, -np.inf)
    for params in configurations:
        model = fit(params)
        for pool in pools:
            candidate = pooled(model, pool)
            value = score(candidate)
            if value > best[2]:
                best = (candidate, {**params, "answer_pool": pool}, value)
    return best


def tune(families, fit, score):
    """Each family tuned on validation alike: BM25 over k1 x b, the encoder over its grid (both
    with the answer pool), the hybrid fusing the two winners with its weight chosen on the same
    validation."""
    tuned = {}
    started = time.perf_counter()
    tuned["bm25"] = best_pooled(BM25_GRID, lambda p: fit(Bm25sMatcher, p), score)[:2]
    encoder_grid = families["encoder_grid"]
    tuned["dual_encoder"] = best_pooled(encoder_grid, lambda p: fit(FaqDualEncoder, p), score)[:2]
    bm25, encoder = tuned["bm25"][0], tuned["dual_encoder"][0]
    hybrid = FaqHybrid.from_parts(bm25, encoder, validation=families["validation"])
    tuned["hybrid"] = (hybrid, {"weight": round(hybrid.weight, 1)})
    return tuned, time.perf_counter() - started


def intent_rows(tuned, queries, expected, mask=None) -> list[dict]:
    rows = []
    for family, (model, params) in tuned.items():
        scores = model.answer_scores(queries)
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        ranks = ranks_of(scores, model.answers, expected)
        rows.append(
            {
                "family": family,
                "acc1": float(np.mean(ranks == 1)),
                "r3": float(np.mean(ranks <= 3)),
                "mrr": float(np.mean(1.0 / ranks)),
                "params": short(params),
                "confidence": confidence(scores, model.params["temperature"]),
                "correct": ranks == 1,
            }
        )
    return rows


def banking77():
    from ml.datasets.banking77 import load_banking77

    data = load_banking77()
    order = np.random.default_rng(SEED).permutation(len(data.train_texts))
    n_val = len(order) // 10
    train = (
        [data.train_texts[i] for i in order[n_val:]],
        [data.train_labels[i] for i in order[n_val:]],
    )
    valid = (
        [data.train_texts[i] for i in order[:n_val]],
        [data.train_labels[i] for i in order[:n_val]],
    )

    def val_accuracy(model):
        return float(np.mean(model.match(valid[0], 1)[0][:, 0] == np.array(valid[1])))

    tuned, seconds = tune(
        {
            # the earlier grid (dim 64/128 x epochs 10/20) chose dim 64, 20 epochs; towers: an
            # ensemble of 3 seeds served as one table (ml.models.text_matching)
            "encoder_grid": grid(dim=[64], epochs=[20], towers=[1, 3]),
            "validation": valid,
        },
        lambda cls, p: cls(**p).fit(*train),
        val_accuracy,
    )
    # the chosen configurations refit on the whole training split (the validation queries
    # too), as the scenario refits on every stored text; the validation split's fits are
    # scored on the test split as well, beside them
    started = time.perf_counter()
    everything = (train[0] + valid[0], train[1] + valid[1])
    bm25 = Bm25sMatcher(**tuned["bm25"][1]).fit(*everything)
    encoder = FaqDualEncoder(**tuned["dual_encoder"][1]).fit(*everything)
    hybrid = FaqHybrid.from_parts(bm25, encoder)
    hybrid.weight = tuned["hybrid"][0].weight
    refit = {
        "bm25": (bm25, tuned["bm25"][1]),
        "dual_encoder": (encoder, tuned["dual_encoder"][1]),
        "hybrid": (hybrid, tuned["hybrid"][1]),
    }
    seconds += time.perf_counter() - started
    rows = intent_rows(refit, data.test_texts, data.test_labels)
    for row, split_row in zip(
        rows, intent_rows(tuned, data.test_texts, data.test_labels), strict=True
    ):
        row["acc1_split"] = split_row["acc1"]
    return rows, seconds


def stackfaq_folds(logged, val) -> list[tuple[tuple[list, list], tuple[list, list]]]:
    """Five folds over each FAQ's five non-test paraphrases (its 4 logged ones and the
    validation one): fold f holds out paraphrase f of every FAQ (125 queries) and trains on the
    other four. The last fold holds out the validation paraphrase, so its training texts are
    exactly the logged ones the test model is fitted on. One paraphrase per FAQ (125 queries)
    was too small a validation: its answer pool and fusion weight lost on the test queries."""
    n_faqs = len(val[0])
    by_faq = [
        [*logged[0][4 * n : 4 * n + 4], val[0][n]] for n in range(n_faqs)
    ]  # logged is 4 per FAQ, in FAQ order (stackfaq_splits)
    assert logged[1] == [n for n in range(n_faqs) for _ in range(4)] and val[1] == list(
        range(n_faqs)
    )
    folds = []
    for held in range(5):
        kept = [(text, n) for n in range(n_faqs) for i, text in enumerate(by_faq[n]) if i != held]
        training = ([t for t, _ in kept], [n for _, n in kept])
        folds.append((training, ([by_faq[n][held] for n in range(n_faqs)], list(range(n_faqs)))))
    assert folds[-1][0] == (list(logged[0]), list(logged[1]))
    return folds


def best_pooled_folds(configurations, fit, score, n_folds, pools=POOLS):
    """``best_pooled`` with every configuration fitted on each fold and scored by the mean of
    its folds' validation scores. Returns (the fold models, params with the pool, the mean)."""
    best = (None, None, -np.inf)
    for params in configurations:
        models = [fit(params, fold) for fold in range(n_folds)]
        for pool in pools:
            candidates = [pooled(model, pool) for model in models]
            value = float(np.mean([score(m, fold) for fold, m in enumerate(candidates)]))
            if value > best[2]:
                best = (candidates, {**params, "answer_pool": pool}, value)
    return best


def stackfaq():
    from ml.metrics.ranking import map_at_k

    threads, logged, val, test, entries_of = stackfaq_splits()
    folds = stackfaq_folds(logged, val)
    layouts = [{"layout": "separate", "question_weight": 1}] + [
        {"layout": "entries", "question_weight": w} for w in (3, 5)
    ]

    def entry_ranking(model, queries):
        ranked, _ = model.match(queries, len(entries_of))
        return np.array([np.concatenate([entries_of[t] for t in row]) for row in ranked])

    def fit(cls, params, fold):
        layout = {k: params[k] for k in ("layout", "question_weight")}
        texts, ids = faq_texts(threads, **layout)
        own = {k: v for k, v in params.items() if k not in layout}
        paraphrases, faqs = folds[fold][0]
        return cls(**own).fit(texts + paraphrases, ids + faqs)

    def val_np5(model, fold):
        queries, faqs = folds[fold][1]
        relevant = [entries_of[t] for t in faqs]
        return normalized_precision_at_k(entry_ranking(model, queries), relevant, 5)

    started = time.perf_counter()
    bm25 = best_pooled_folds(
        [{**lay, **p} for lay in layouts for p in grid(k1=[1.2, 2.0, 3.0], b=[0.75, 1.0])],
        lambda p, fold: fit(Bm25sMatcher, p, fold),
        val_np5,
        len(folds),
    )
    encoder = best_pooled_folds(
        [
            {**lay, **p}
            for lay in (layouts[0], layouts[1])
            for p in grid(dim=[64, 128], max_features=[1000], epochs=[20])
        ],
        lambda p, fold: fit(FaqDualEncoder, p, fold),
        val_np5,
        len(folds),
    )
    # the winner as an ensemble of 3 towers, kept if validation says so
    towers = {**{k: v for k, v in encoder[1].items() if k != "answer_pool"}, "towers": 3}
    ensemble = best_pooled_folds(
        [towers], lambda p, fold: fit(FaqDualEncoder, p, fold), val_np5, len(folds)
    )
    encoder = ensemble if ensemble[2] > encoder[2] else encoder
    # the fusion weight by the folds' mean normalised P@5, as the parts were chosen
    fused = [FaqHybrid.from_parts(b, e) for b, e in zip(bm25[0], encoder[0], strict=True)]
    weights = {}
    for weight in np.linspace(0.0, 1.0, 11):
        for model in fused:
            model.weight = float(weight)
        weights[round(float(weight), 1)] = float(
            np.mean([val_np5(model, fold) for fold, model in enumerate(fused)])
        )
    weight = max(weights, key=weights.get)
    for model in fused:
        model.weight = weight
    # the last fold's models are fitted on the FAQ texts and the 4 logged paraphrases
    tuned = {
        "bm25": (bm25[0][-1], bm25[1], bm25[2]),
        "dual_encoder": (encoder[0][-1], encoder[1], encoder[2]),
        "hybrid": (fused[-1], {"weight": weight}, weights[weight]),
    }
    seconds = time.perf_counter() - started
    relevant = [entries_of[t] for t in test[1]]
    n_entries = sum(len(e) for e in entries_of)
    rows = []
    for family, (model, params, validated) in tuned.items():
        entries = entry_ranking(model, test[0])
        ids, _ = model.match(test[0], 1)
        rows.append(
            {
                "family": family,
                "val_np5": validated,
                "p5": precision_at_k(entries, relevant, 5),
                "np5": normalized_precision_at_k(entries, relevant, 5),
                "map": map_at_k(entries, relevant, n_entries),
                "acc1": float(np.mean(ids[:, 0] == np.array(test[1]))),
                "params": short(params),
            }
        )
    # the ceiling: a ranking that puts every entry of the query's own FAQ first, scored by the
    # same functions (an FAQ with fewer than 5 answers cannot fill the top 5)
    oracle = np.array(
        [np.r_[entries_of[t], np.setdiff1d(np.arange(n_entries), entries_of[t])] for t in test[1]]
    )
    rows.append(
        {
            "family": "oracle",
            "p5": precision_at_k(oracle, relevant, 5),
            "np5": normalized_precision_at_k(oracle, relevant, 5),
            "map": map_at_k(oracle, relevant, n_entries),
            "acc1": 1.0,
            "params": "a ceiling, not a method",
        }
    )
    return rows, seconds, weights


def demo(chinese: str, authored_only: bool = False):
    """The demo FAQ trained as the scenario trains it (its held_out_split for validation,
    then refit on every stored text), scored on the held-out paraphrases of each language
    among the entries of that language."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()  # the scenario module's split is imported with its app (no database used)
    from scenarios.faq.demo_data import ENTRIES, held_out_queries
    from scenarios.faq.scenario import held_out_split

    entries = [
        {
            "key": e.key,
            "texts": [e.question, *(e.paraphrases[:4] if authored_only else e.paraphrases)],
        }
        for e in ENTRIES
    ]
    fit_texts, fit_keys, val_texts, val_keys = held_out_split(entries)
    all_texts = [t for e in entries for t in e["texts"]]
    all_keys = [e["key"] for e in entries for _ in e["texts"]]
    language = {e.key: e.language for e in ENTRIES}

    def masked(model, queries, keys):
        scores = model.answer_scores(queries)
        answers = np.array([language[a] for a in model.answers])
        own = np.array([language[k] for k in keys])
        return np.where(answers[None, :] == own[:, None], scores, -np.inf)

    def val_accuracy(model):
        scores = masked(model, val_texts, val_keys)
        return float(np.mean(ranks_of(scores, model.answers, val_keys) == 1))

    started = time.perf_counter()
    tuned, _ = tune(
        {
            "encoder_grid": grid(dim=[64, 128], epochs=[30, 60], train_temperature=[0.05, 0.1]),
            "validation": (val_texts, val_keys),
        },
        lambda cls, p: cls(chinese=chinese, **p).fit(fit_texts, fit_keys, None),
        val_accuracy,
    )
    refit = {}
    for family, (model, params) in tuned.items():
        if family == "hybrid":
            parts = {"bm25": tuned["bm25"][1], "encoder": tuned["dual_encoder"][1]}
            final = FaqHybrid(chinese=chinese, **parts, weight=model.weight)
        else:
            final = type(model)(chinese=chinese, **params)
        refit[family] = (final.fit(all_texts, all_keys), params)
    seconds = time.perf_counter() - started
    results = {}
    for lang in ("en", "zh"):
        queries = held_out_queries(lang)
        texts, keys = [q for q, _ in queries], [k for _, k in queries]
        answers = np.array([language[a] for a in refit["bm25"][0].answers])
        results[lang] = intent_rows(refit, texts, keys, mask=answers[None, :] == lang)
    return results, seconds


def tradeoff_rows(label: str, row: dict) -> list[dict]:
    out = []
    for threshold in THRESHOLDS:
        answered = row["confidence"] >= threshold
        out.append(
            {
                "data": label,
                "threshold": threshold,
                "answered": float(answered.mean()),
                "accuracy": float(row["correct"][answered].mean()) if answered.any() else None,
            }
        )
    return out


def plot_tradeoff(curves: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for label, rows in curves.items():
        shown = [r for r in rows if r["accuracy"] is not None]
        axis.plot([r["answered"] for r in shown], [r["accuracy"] for r in shown], "o-", label=label)
        for r in shown:
            axis.annotate(f"{r['threshold']:.2f}", (r["answered"], r["accuracy"]), fontsize=7)
    axis.set_xlabel("answer rate (share not handed off)")
    axis.set_ylabel("top-1 accuracy of the answered queries")
    axis.set_title("FAQ hand-off trade-off (hybrid; labels: handoff_below)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> list[str]:
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |"]
    lines.append("|" + "|".join("---" if f == "" else "---:" for _, _, f in columns) + "|")
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("" if value is None else (format(value, fmt) if fmt else str(value)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    started = time.monotonic()
    load = load_average()
    lines = [
        SECTION,
        "",
        "Command: `.venv/bin/python bench/faq.py` (quality needs no lock: the tuning times "
        "below ran beside other work, see the load average)",
        "",
    ]
    curves = {}

    bank, bank_s = banking77()
    lines += ["### banking77 (77 intents as entries, 3,080 test queries)", ""]
    for row in bank:
        row["model"] = LABELS[row["family"]]
    lines += table(
        bank,
        [("model", "model", ""), ("acc1", "accuracy@1", ".3f"), ("r3", "Recall@3", ".3f"),
         ("mrr", "MRR", ".3f"), ("acc1_split", "accuracy@1 without the validation queries",
         ".3f"), ("params", "tuned on validation", "")],
    )  # fmt: skip
    curves["banking77 test"] = tradeoff_rows("banking77 test", bank[-1])
    lines += [
        "",
        "Validation: 1,000 queries carved from the training split (seed 0); the chosen "
        "configurations then refit on the whole training split (the first columns); the last "
        "numeric column scores the fits without the validation queries.",
        "",
        f"Tuning and training: {bank_s:.0f} s.",
        "",
    ]

    stack, stack_s, weights = stackfaq()
    for row in stack:
        row["model"] = LABELS[row["family"]]
    lines += ["### StackFAQ (FAQ texts + 4 logged paraphrases per FAQ, 624 test queries)", ""]
    lines += table(
        stack,
        [("model", "model", ""), ("p5", "P@5", ".3f"), ("np5", "normalised P@5", ".3f"),
         ("map", "MAP", ".3f"), ("acc1", "FAQ accuracy@1", ".3f"),
         ("val_np5", "validation normalised P@5", ".3f"), ("params", "tuned on validation", "")],
    )  # fmt: skip
    curve = ", ".join(f"{w} {v:.3f}" for w, v in weights.items())
    lines += [
        "",
        "Validation: 5 folds over each FAQ's 5 non-test paraphrases (fold f holds out paraphrase"
        " f of every FAQ, 125 queries, and trains on the other 4: 625 validation queries in all);"
        " every choice by the folds' mean normalised P@5; the test models are the last fold's"
        " (trained on the FAQ texts and the 4 logged paraphrases). Hybrid weight on the folds:"
        f" {curve}.",
        "",
        f"Tuning and training: {stack_s:.0f} s.",
        "",
    ]

    lines += [
        "### Demo FAQ: held-out paraphrases (86 a language, 43 entries each)",
        "",
        "| stored paraphrases | Chinese tokens | model | English accuracy@1 | English MRR "
        "| Chinese accuracy@1 | Chinese MRR | tuned on validation |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    demo_s = 0.0
    for authored_only in (False, True):
        for chinese in ("bigram", "jieba"):
            results, seconds = demo(chinese, authored_only)
            demo_s += seconds
            for en, zh in zip(results["en"], results["zh"], strict=True):
                lines.append(
                    f"| {'4 authored' if authored_only else '8 (4 authored + 4 attached)'} "
                    f"| {chinese} | {LABELS[en['family']]} | {en['acc1']:.3f} | {en['mrr']:.3f} "
                    f"| {zh['acc1']:.3f} | {zh['mrr']:.3f} | {en['params']} |"
                )
            if chinese == "bigram" and not authored_only:
                for lang in ("en", "zh"):
                    name = f"demo held-out ({lang})"
                    curves[name] = tradeoff_rows(name, results[lang][-1])
    lines += ["", f"Tuning and training: {demo_s:.0f} s in all.", ""]

    lines += [
        "### Hand-off trade-off (hybrid, default tokens): answer rate vs accuracy of answered",
        "",
        "![hand-off trade-off](faq_handoff.png)",
        "",
    ]
    flat = [row for rows in curves.values() for row in rows]
    lines += table(
        flat,
        [("data", "queries", ""), ("threshold", "handoff_below", ".2f"),
         ("answered", "answer rate", ".3f"), ("accuracy", "accuracy of answered", ".3f")],
    )  # fmt: skip
    plot_tradeoff(curves, ROOT / "bench" / "faq_handoff.png")
    lines += [
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on the shared 2-core "
        f"machine; load average before {load}, after {load_average()}; wall time "
        f"{time.monotonic() - started:.0f} s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_section(text)


# ----- serving ---------------------------------------------------------------------------------
SERVE_ENTRIES = 1000
SERVE_SETUP = """
from catalog.models import Item, User
from engine.versions import request_training
from scenarios.faq.demo_data import ENTRIES
from scenarios.faq.models import FaqEntry
from ml.datasets.demo import generate_demo_store
from catalog.management.commands.seed_demo import write_store
from django.db.models.signals import post_delete
from scenarios.faq.models import QueryLog
from scenarios.faq.signals import entry_changed

# the PostgreSQL bench database outlives a run: start from no FAQ (no retraining per delete)
post_delete.disconnect(entry_changed, sender=FaqEntry)
QueryLog.objects.all().delete()
FaqEntry.objects.all().delete()

write_store(generate_demo_store(n_users=200, n_products=1000, n_articles=0, days=10, seed=0),
            seed=0, progress=False)
titles = list(Item.objects.order_by("pk").values_list("title", flat=True))
# 1,000 entries: each demo entry, then per-product variants of it (the product's title added
# to every text), as a shop with product-specific questions has
FaqEntry.objects.bulk_create(
    FaqEntry(key=e.key if n < len(ENTRIES) else f"{e.key}-{n}", language=e.language,
             category=e.category, answer=e.answer,
             question=e.question if n < len(ENTRIES) else f"{e.question} {titles[n]}",
             paraphrases=[p if n < len(ENTRIES) else f"{p} {titles[n]}" for p in e.paraphrases])
    for n, e in ((n, ENTRIES[n % len(ENTRIES)]) for n in range(ENTRY_COUNT))
)
# the hybrid (its two parts both run per answer), as the default settings name it; the model
# search is off so every run serves the same family
from engine.models import ScenarioConfig
config = ScenarioConfig.for_slug("faq")
config.settings = {**config.settings, "model": "hybrid", "model_search": False}
config.save()
started = time.monotonic()
version = request_training("faq", triggered_by="bench")  # Celery runs eagerly here
version.refresh_from_db()
report.update(status=version.status, entries=FaqEntry.objects.count(),
              train_s=round(time.monotonic() - started, 1),
              accuracy=version.metrics.get("accuracy@1"), users=User.objects.count())
"""


def serve_main(backends: list[str]) -> None:
    from scenario_serve import (
        SERVE_METHOD,
        SETUP_HEAD,
        SETUP_TAIL,
        Endpoint,
        bench_endpoints,
        serve_table,
    )

    from scenarios.faq.demo_data import held_out_queries

    os.environ["RECO_SCENARIOS"] = "scenarios.faq"  # the server loads the FAQ alone
    setup = SETUP_HEAD + SERVE_SETUP.replace("ENTRY_COUNT", str(SERVE_ENTRIES)) + SETUP_TAIL
    queries = [query for query, _ in held_out_queries()]
    requests = [
        ("POST", "/api/v1/faq/answer", {"query": q, "user_id": f"u{n % 200}"})
        for n, q in enumerate(queries)
    ]
    load = load_average()
    rows, infos = [], {}
    for backend in backends:
        info, measured = bench_endpoints(
            setup, [Endpoint("POST faq/answer (held-out demo queries)", requests)], backend=backend
        )
        infos[backend] = {k: info[k] for k in ("status", "entries", "train_s", "accuracy")}
        rows += measured
    lines = [
        SERVE_SECTION,
        "",
        f"Command: `flock /tmp/bench.lock .venv/bin/python bench/faq.py --serve --backend "
        f"{' '.join(backends)}`",
        "",
        SERVE_METHOD,
        "",
        *serve_table(rows),
        "",
        f"Store: {SERVE_ENTRIES:,} FAQ entries (the 86 demo entries and per-product variants of "
        "them, the product's title added to each text: about 9,000 texts), the default hybrid "
        f"matcher trained before serving: {json.dumps(infos)}. Requests rotate over the "
        f"{len(queries)} held-out demo paraphrases in both languages; each answer writes its "
        "query log row. Goal: p99 within 30 ms. "
        f"Load average before: {load}; after: {load_average()}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_section(text)


PROFILE_SCRIPT = """
import cProfile, json, pstats, time
import django
django.setup()
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.db import connection
from engine.serving import warm_up
from scenarios.faq.demo_data import held_out_queries
warm_up()
client = Client(HTTP_AUTHORIZATION="Api-Key " + KEY)
queries = [q for q, _ in held_out_queries()]
def ask(i):
    body = json.dumps({"query": queries[i % len(queries)], "user_id": f"u{i % 200}"})
    response = client.post("/api/v1/faq/answer", body, content_type="application/json")
    assert response.status_code == 200, response.content
for i in range(50):
    ask(i)
with CaptureQueriesContext(connection) as captured:
    ask(0)
print("SQL statements per answer:", len(captured.captured_queries))
for query in captured.captured_queries:
    print("   ", query["sql"][:120])
started, cpu = time.perf_counter(), time.process_time()
for i in range(COUNT):
    ask(i)
print(f"in-process, no profiler: {(time.perf_counter() - started) / COUNT * 1000:.2f} ms wall, "
      f"{(time.process_time() - cpu) / COUNT * 1000:.2f} ms CPU per answer")
profile = cProfile.Profile()
profile.enable()
for i in range(COUNT):
    ask(i)
profile.disable()
pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
"""


def profile_main(count: int) -> None:
    """Build the serving store (embedded) and cProfile ``count`` answers in one process."""
    import subprocess
    import tempfile

    from scenario_serve import SETUP_HEAD, SETUP_TAIL
    from serve import backend_env, run_json

    os.environ["RECO_SCENARIOS"] = "scenarios.faq"
    env = backend_env("embedded", Path(tempfile.mkdtemp(prefix="bench-faq-profile-")))
    setup = SETUP_HEAD + SERVE_SETUP.replace("ENTRY_COUNT", str(SERVE_ENTRIES)) + SETUP_TAIL
    report = run_json(setup, env)
    script = PROFILE_SCRIPT.replace("KEY", repr(report["key"])).replace("COUNT", str(count))
    subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serving p99 instead of quality")
    parser.add_argument(
        "--profile", type=int, metavar="N", help="cProfile N in-process answers (no gunicorn)"
    )
    parser.add_argument(
        "--backend",
        nargs="+",
        default=["embedded"],
        choices=["embedded", "postgresql+redis"],
        help="serving backends (with --serve)",
    )
    args = parser.parse_args()
    if args.profile:
        profile_main(args.profile)
    elif args.serve:
        serve_main(args.backend)
    else:
        main()
