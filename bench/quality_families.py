"""Quality of the non-top-N model families on real shared data.

FAQ matching (banking77, StackFAQ), link prediction (SNAP ego-Facebook), uplift (Hillstrom) and
CTR (Criteo tiny sample). Every model's few hyperparameters, baselines included, are chosen on a
validation split carved from the training data; the test split is scored once at the end.
Prints one markdown table per family and writes them into bench/RESULTS.md under
"## Quality: other families". Run alone with ``.venv/bin/python bench/quality_families.py``;
``make bench-quality`` (bench/quality.py) calls ``main()`` at its end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from results_file import write_section  # noqa: E402

from ml.datasets.common import dataset_path  # noqa: E402
from ml.evaluation import markdown_table  # noqa: E402
from ml.metrics.classification import expected_calibration_error, log_loss, roc_auc  # noqa: E402
from ml.metrics.text import accuracy_at_1, recall_at_k  # noqa: E402
from ml.metrics.uplift import qini_coefficient, uplift_at_k  # noqa: E402

SECTION = "## Quality: other families"
SEED = 0


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def best_of(grid, fit, score):
    """Fit every configuration in ``grid``; return (best model, its params, its val score)."""
    best = (None, None, -np.inf)
    for params in grid:
        model = fit(params)
        value = score(model)
        if value > best[2]:
            best = (model, params, value)
    return best


def grid(**axes):
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def short(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


# ----- FAQ matching ------------------------------------------------------------------------------
def faq_banking77() -> tuple[str, list[str]]:
    from ml.datasets.banking77 import load_banking77
    from ml.models.text_matching import (
        BM25Matcher,
        DualEncoderMatcher,
        HybridMatcher,
        handoff_threshold,
    )

    data = load_banking77()
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(data.train_texts))
    n_val = len(order) // 10
    val_idx, train_idx = order[:n_val], order[n_val:]
    train = ([data.train_texts[i] for i in train_idx], [data.train_labels[i] for i in train_idx])
    valid = ([data.train_texts[i] for i in val_idx], [data.train_labels[i] for i in val_idx])

    def val_accuracy(model):
        return accuracy_at_1(model.match(valid[0], 1)[0], valid[1])

    rows, notes = [], []
    (bm25, bm25_params, _), bm25_s = timed(
        lambda: best_of(
            grid(k1=[0.6, 1.2, 2.0], b=[0.3, 0.75, 1.0]),
            lambda p: BM25Matcher(**p).fit(*train),
            val_accuracy,
        )
    )
    (encoder, enc_params, _), enc_s = timed(
        lambda: best_of(
            grid(dim=[64, 128], epochs=[6], learning_rate=[0.01]),
            lambda p: DualEncoderMatcher(**p).fit(*train),
            val_accuracy,
        )
    )
    hybrid, hyb_s = timed(lambda: HybridMatcher.from_parts(bm25, encoder, validation=valid))
    for label, model, params, seconds in (
        ("BM25", bm25, short(bm25_params), bm25_s),
        ("dual encoder (TF)", encoder, short(enc_params), enc_s),
        ("hybrid BM25 + dual encoder", hybrid, f"weight={hybrid.weight:.1f}", hyb_s),
    ):
        ids, _ = model.match(data.test_texts, 3)
        threshold = handoff_threshold(
            model.confidence(valid[0]),
            model.match(valid[0], 1)[0][:, 0] == np.array(valid[1]),
            target_accuracy=0.95,
        )
        answered = model.confidence(data.test_texts) >= threshold
        correct = ids[:, 0] == np.array(data.test_labels)
        rows.append(
            {
                "model": label,
                "acc1": accuracy_at_1(ids, data.test_labels),
                "r3": recall_at_k(ids, data.test_labels, 3),
                "answered": float(answered.mean()),
                "answered_acc": float(correct[answered].mean()) if answered.any() else None,
                "params": params,
                "seconds": f"{seconds:.1f}",
            }
        )
    table = markdown_table(
        rows,
        [
            "model",
            ("acc1", "accuracy@1"),
            ("r3", "Recall@3"),
            ("answered", "answered at 95% target"),
            ("answered_acc", "accuracy of answered"),
            ("params", "tuned on validation"),
            ("seconds", "tuning + training s"),
        ],
        digits=3,
    )
    notes.append(
        "banking77: official test split (3,080 queries, 77 intents); the 10,003 training queries "
        "are split 90/10 into fit and validation (tuning, fusion weight, hand-off threshold). "
        "'answered at 95% target': share of test queries whose confidence passes the threshold "
        "chosen on validation for 95% accuracy of answered queries (the rest go to a human)."
    )
    return "### FAQ matching: banking77\n\n" + table, notes


def stackfaq_splits():
    """StackFAQ threads and queries: 4 'logged' paraphrases per FAQ (training texts in the
    second setting), 1 validation and 5 test paraphrases, each as (texts, FAQ ids), and the
    entry ids of every FAQ (one per (question, answer) pair, numbered in file order)."""
    from ml.datasets.stackfaq import load_stackfaq

    threads = load_stackfaq()
    rng = np.random.default_rng(SEED)
    logged, val, test = ([], []), ([], []), ([], [])
    for number, thread in enumerate(threads):
        paraphrases = [thread.paraphrases[i] for i in rng.permutation(len(thread.paraphrases))]
        for part, texts in (
            (logged, paraphrases[:4]),
            (val, paraphrases[4:5]),
            (test, paraphrases[5:]),
        ):
            part[0].extend(texts)
            part[1].extend([number] * len(texts))
    starts = np.cumsum([0] + [len(t.answers) for t in threads])
    entries_of = [np.arange(a, b) for a, b in zip(starts[:-1], starts[1:], strict=True)]
    return threads, logged, val, test, entries_of


def faq_texts(threads, layout: str, question_weight: int = 1) -> tuple[list[str], list[int]]:
    """The texts that stand for each FAQ: ``separate`` = the question and each answer as texts
    of their own; ``entries`` = one text per (question, answer) entry, with the question written
    ``question_weight`` times. For BM25 that repetition is exactly BM25F with field weights
    (question_weight, 1) and one length normalisation: paraphrased queries restate the
    question, so its words deserve more weight than the answer's."""
    texts, ids = [], []
    for number, thread in enumerate(threads):
        if layout == "separate":
            own = [thread.question, *thread.answers]
        else:
            own = [" ".join([thread.question] * question_weight + [a]) for a in thread.answers]
        texts.extend(own)
        ids.extend([number] * len(own))
    return texts, ids


def faq_stackfaq() -> tuple[str, list[str]]:
    from ml.metrics.ranking import map_at_k
    from ml.metrics.text import normalized_precision_at_k, precision_at_k
    from ml.models.text_matching import BM25Matcher, DualEncoderMatcher, HybridMatcher

    threads, logged, val, test, entries_of = stackfaq_splits()
    n_entries = sum(len(e) for e in entries_of)

    def entry_metrics(model, queries, expected) -> dict[str, float]:
        """Metrics over the 719 (question, answer) entries: each ranked FAQ contributes its
        entries in turn, so the top 5 entries come from the best-ranked FAQs."""
        ranked, _ = model.match(queries, len(entries_of))
        entries = np.array([np.concatenate([entries_of[t] for t in row]) for row in ranked])
        relevant = [entries_of[t] for t in expected]
        return {
            "p5": precision_at_k(entries, relevant, 5),
            "np5": normalized_precision_at_k(entries, relevant, 5),
            "map": map_at_k(entries, relevant, n_entries),
        }

    n_answers = np.array([len(e) for e in entries_of])
    ceiling = float(np.mean([min(n_answers[t], 5) / 5 for t in test[1]]))
    layouts = [
        {"layout": "separate", "question_weight": 1},
        *({"layout": "entries", "question_weight": w} for w in (1, 3, 5)),
    ]
    rows = []
    settings = (("FAQ texts only", False), ("FAQ + 4 logged paraphrases per FAQ", True))
    for setting, with_logged in settings:

        def fit(cls, params):
            """``layout`` and ``question_weight`` pick the FAQ texts (see ``faq_texts``); the
            rest are the matcher's own hyperparameters."""
            layout = {k: params[k] for k in ("layout", "question_weight")}
            texts, ids = faq_texts(threads, **layout)
            if with_logged:  # noqa: B023
                texts, ids = texts + logged[0], ids + logged[1]
            own = {k: v for k, v in params.items() if k not in layout}
            return cls(**own).fit(texts, ids)

        def val_np5(model):
            return entry_metrics(model, *val)["np5"]

        bm25, bm25_params, _ = best_of(
            [{**lay, **p} for lay in layouts for p in grid(k1=[1.2, 2.0, 3.0], b=[0.75, 1.0])],
            lambda p: fit(BM25Matcher, p),  # noqa: B023
            val_np5,
        )
        encoder, enc_params, _ = best_of(
            [
                {**lay, **p}
                for lay in (layouts[0], layouts[2])
                for p in grid(dim=[64, 128], max_features=[1000], epochs=[20], min_count=[1])
            ],
            lambda p: fit(DualEncoderMatcher, p),  # noqa: B023
            val_np5,
        )
        hybrid = HybridMatcher.from_parts(bm25, encoder, validation=val)
        for label, model, params in (
            ("BM25", bm25, short(bm25_params)),
            ("dual encoder (TF)", encoder, short(enc_params)),
            ("hybrid BM25 + dual encoder", hybrid, f"weight={hybrid.weight:.1f}"),
        ):
            ids, _ = model.match(test[0], 1)
            rows.append(
                {
                    "model": label,
                    "setting": setting,
                    **entry_metrics(model, *test),
                    "acc1": accuracy_at_1(ids, test[1]),
                    "params": params,
                }
            )
    table = markdown_table(
        rows,
        [
            "model",
            ("setting", "training texts"),
            ("p5", "P@5"),
            ("np5", "normalised P@5"),
            ("map", "MAP"),
            ("acc1", "FAQ accuracy@1"),
            ("params", "tuned on validation"),
        ],
        digits=3,
    )
    notes = [
        f"StackFAQ: 125 FAQs, 719 (question, answer) entries; per FAQ one paraphrase is "
        f"validation and 5 are test queries ({len(test[0])}); 4 more are 'logged' training "
        "queries in the second setting. A matcher ranks FAQs and each ranked FAQ lists its "
        "entries in turn; all entries of the query's own FAQ are relevant. Which texts stand for "
        "an FAQ (question and answers apart, or one text per entry with the question weighted "
        "1, 3 or 5 times, BM25F-style) is tuned on validation like a hyperparameter, and every "
        "model's settings are chosen by validation normalised P@5 (125 queries).",
        "Metrics over entries: P@5 = relevant entries in the top 5 / 5; an FAQ with fewer than "
        f"5 answers cannot fill them, so the best possible P@5 here is {ceiling:.3f}, below the "
        "0.90 goal. Normalised P@5 = relevant entries in the top 5 / min(5, relevant entries), "
        "1 for every perfect ranking: the 0.90 goal is stated on this column. MAP = mean over "
        "queries of the average precision at each relevant entry's rank over the full ranking "
        "of all 719 entries. The published BM25 P@5 0.79 (Karan & Snajder 2018) ranks entries "
        "without logged paraphrases, like our first setting.",
    ]
    return "### FAQ matching: StackFAQ\n\n" + table, notes


# ----- Link prediction ---------------------------------------------------------------------------
def sample_non_edges(rng, n_nodes, existing: set, count: int) -> np.ndarray:
    pairs = []
    while len(pairs) < count:
        u, v = sorted(rng.integers(0, n_nodes, 2).tolist())
        if u != v and (u, v) not in existing:
            existing.add((u, v))  # never reuse a negative
            pairs.append((u, v))
    return np.array(pairs)


def link_prediction() -> tuple[str, list[str]]:
    from ml.datasets.snap import load_ego_facebook
    from ml.models.link_prediction import AdamicAdar, CommonNeighbours, NodeEmbedding

    edges = load_ego_facebook()
    n_nodes = int(edges.max()) + 1
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(edges))
    n_test = len(edges) // 10
    test_pos, rest = edges[order[:n_test]], edges[order[n_test:]]
    n_val = len(rest) // 20
    val_pos, fit_edges = rest[:n_val], rest[n_val:]
    existing = set(map(tuple, edges.tolist()))
    test_pairs = np.r_[test_pos, sample_non_edges(rng, n_nodes, existing, n_test)]
    test_labels = np.r_[np.ones(n_test), np.zeros(n_test)]
    val_pairs = np.r_[val_pos, sample_non_edges(rng, n_nodes, existing, n_val)]
    val_labels = np.r_[np.ones(n_val), np.zeros(n_val)]

    def val_auc(model):
        return roc_auc(val_labels, model.score(val_pairs))

    _, emb_params, _ = best_of(
        grid(dim=[32, 64], l2=[1e-4, 1e-3], epochs=[10]),
        lambda p: NodeEmbedding(**p).fit(fit_edges, n_nodes=n_nodes),
        val_auc,
    )
    rows = []
    for label, cls, params in (
        ("common neighbours", CommonNeighbours, {}),
        ("Adamic-Adar", AdamicAdar, {}),
        ("node embeddings (TF)", NodeEmbedding, emb_params),
    ):
        model, seconds = timed(lambda: cls(**params).fit(rest, n_nodes=n_nodes))  # noqa: B023
        rows.append(
            {
                "model": label,
                "auc": roc_auc(test_labels, model.score(test_pairs)),
                "params": short(params) or "none",
                "seconds": f"{seconds:.1f}",
            }
        )
    table = markdown_table(
        rows,
        ["model", ("auc", "AUC"), ("params", "tuned on validation"), ("seconds", "train s")],
        digits=4,
    )
    notes = [
        f"ego-Facebook (4,039 nodes, 88,234 edges): 10% of edges ({n_test}) held out as test "
        "positives against as many uniformly sampled non-edges; models are fitted on the other "
        "90%. The embedding's settings were chosen on a validation 5% of those 90% (fitted on "
        "the remaining 95% of them). Published reference: Adamic-Adar AUC 0.92 on one ego net."
    ]
    return "### Link prediction: SNAP ego-Facebook\n\n" + table, notes


# ----- Uplift ------------------------------------------------------------------------------------
def uplift_hillstrom() -> tuple[str, list[str]]:
    from ml.datasets.hillstrom import load_hillstrom
    from ml.models.uplift import TLearner, TwoHeadUplift

    arm = load_hillstrom().arm("Womens E-Mail", "visit")
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(arm.outcome))
    n = len(order)
    test, valid, train = (
        order[: int(0.3 * n)],
        order[int(0.3 * n) : int(0.5 * n)],
        order[int(0.5 * n) :],
    )

    def part(rows):
        return arm.features[rows], arm.treatment[rows], arm.outcome[rows]

    def val_qini(model):
        X, t, y = part(valid)
        return qini_coefficient(y, t, model.predict_uplift(X))

    rows = []
    candidates = (
        (
            "T-learner (logistic regression)",
            TLearner,
            grid(l2=[1e-3, 1e-2, 1e-1], interactions=[False, True]),
        ),
        (
            "two-head network (TF)",
            TwoHeadUplift,
            grid(hidden=[[32, 16], [64, 32]], l2=[1e-5, 1e-4], learning_rate=[3e-3]),
        ),
    )
    X_test, t_test, y_test = part(test)
    for label, cls, configurations in candidates:
        (model, params, _), seconds = timed(
            lambda: best_of(
                configurations,  # noqa: B023
                lambda p: cls(**p).fit(*part(train), validation=part(valid)),  # noqa: B023
                val_qini,
            )
        )
        uplift = model.predict_uplift(X_test)
        rows.append(
            {
                "model": label,
                "qini": qini_coefficient(y_test, t_test, uplift),
                "qini_raw": qini_coefficient(y_test, t_test, uplift, normalize=False),
                "u30": uplift_at_k(y_test, t_test, uplift, 0.3),
                "params": short(params),
                "seconds": f"{seconds:.1f}",
            }
        )
    random_score = rng.random(len(y_test))
    rows.append(
        {
            "model": "random targeting",
            "qini": qini_coefficient(y_test, t_test, random_score),
            "qini_raw": qini_coefficient(y_test, t_test, random_score, normalize=False),
            "u30": uplift_at_k(y_test, t_test, random_score, 0.3),
            "params": "",
        }
    )
    table = markdown_table(
        rows,
        [
            "model",
            ("qini", "Qini coefficient"),
            ("qini_raw", "Qini area per person"),
            ("u30", "uplift@30%"),
            ("params", "tuned on validation Qini"),
            ("seconds", "tuning + training s"),
        ],
        digits=4,
    )
    overall = y_test[t_test == 1].mean() - y_test[t_test == 0].mean()
    notes = [
        "Hillstrom, Womens E-Mail vs No E-Mail (42,693 customers), outcome = site visit; random "
        f"50/20/30 train/validation/test split. Average uplift on test: {overall:.4f}. 'Qini "
        "coefficient' is the area between the Qini curve and random targeting divided by that of "
        "the perfect ranking of the same test data (scikit-uplift's qini_auc_score convention); "
        "the published 0.066 for this arm does not state its normalisation, so compare with care. "
        "One split of ~12.8k test customers: differences under ~0.01 are within noise."
    ]
    return "### Uplift: Hillstrom e-mail (women's arm)\n\n" + table, notes


# ----- CTR ---------------------------------------------------------------------------------------
def ctr_criteo(repeats: int = 3) -> tuple[str, list[str]]:
    from ml.datasets.criteo import load_criteo_tiny
    from ml.models.ctr import DeepFM, LogisticCTR

    data = load_criteo_tiny("train")
    n = len(data)
    candidates = (
        (
            "logistic regression",
            LogisticCTR,
            grid(l2=[1e-3, 1e-2, 3e-2, 1e-1], min_count=[1, 2, 4]),
        ),
        (
            "DeepFM (TF)",
            DeepFM,
            grid(
                learning_rate=[3e-3, 1e-2],
                l2=[1e-5, 1e-3],
                hidden=[[32]],
                dropout=[0.0, 0.3],
                min_count=[2],
            ),
        ),
    )
    results = {
        label: {"auc": [], "logloss": [], "ece": [], "params": []} for label, _, _ in candidates
    }
    for repeat in range(repeats):
        order = np.random.default_rng(SEED + repeat).permutation(n)
        test, valid, train = (
            order[: int(0.2 * n)],
            order[int(0.2 * n) : int(0.4 * n)],
            order[int(0.4 * n) :],
        )

        def part(rows):
            return data.numeric[rows], data.categorical[rows], data.labels[rows]

        def val_auc(model):
            X_num, X_cat, y = part(valid)  # noqa: B023
            return roc_auc(y, model.predict_proba(X_num, X_cat))

        for label, cls, configurations in candidates:
            model, params, _ = best_of(
                configurations,
                lambda p: cls(**p).fit(*part(train), validation=part(valid)),  # noqa: B023
                val_auc,
            )
            X_num, X_cat, y = part(test)
            p = model.predict_proba(X_num, X_cat)
            results[label]["auc"].append(roc_auc(y, p))
            results[label]["logloss"].append(log_loss(y, p))
            results[label]["ece"].append(expected_calibration_error(y, p))
            results[label]["params"].append(short(params))
    rows = []
    for label, values in results.items():
        rows.append(
            {
                "model": label,
                "auc": f"{np.mean(values['auc']):.4f} ± {np.std(values['auc']):.4f}",
                "logloss": f"{np.mean(values['logloss']):.4f} ± {np.std(values['logloss']):.4f}",
                "ece": f"{np.mean(values['ece']):.4f}",
                "params": "; ".join(values["params"]),
            }
        )
    table = markdown_table(
        rows,
        [
            "model",
            ("auc", "AUC"),
            ("logloss", "log loss"),
            ("ece", "ECE (10 bins)"),
            ("params", "tuned on validation AUC (per repeat)"),
        ],
    )
    notes = [
        f"Criteo DAC tiny sample: the only labelled rows are 1,999 (418 clicks). {repeats} random "
        "60/20/20 train/validation/test splits; mean ± std over them. With ~400 test rows per split "
        "the AUC differences between the two models are within noise: this checks the pipeline "
        "on real features, it cannot rank CTR models (DeepFM's gains need far more data)."
    ]
    return "### CTR: Criteo DAC (tiny sample)\n\n" + table, notes


FAMILIES = {
    "faq": (faq_banking77, "banking77"),
    "stackfaq": (faq_stackfaq, "stackfaq"),
    "link": (link_prediction, "snap-ego-facebook"),
    "uplift": (uplift_hillstrom, "hillstrom-email-uplift"),
    "ctr": (ctr_criteo, "criteo-kaggle-dac-tiny"),
}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(FAMILIES)}")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args, _ = parser.parse_known_args(argv)
    wanted = args.only.split(",") if args.only else list(FAMILIES)
    unknown = set(wanted) - set(FAMILIES)
    if unknown:
        parser.error(f"unknown families {sorted(unknown)}")
    parts, notes = [], []
    started = time.perf_counter()
    for key in wanted:
        run, dataset = FAMILIES[key]
        if not dataset_path(dataset).is_dir():
            notes.append(f"{key}: skipped, shared dataset {dataset} not found")
            continue
        (table, family_notes), seconds = timed(run)
        print(f"\n{table}\n", flush=True)
        for note in family_notes:
            print(f"- {note}")
        parts.append(table)
        notes.extend(family_notes)
        notes.append(f"{key}: {seconds:.0f} s in all")
    header = (
        f"Date: {dt.date.today().isoformat()}. Machine: 2 CPU cores, no GPU, shared with other "
        f"jobs at the time (timings are indicative). Command: `.venv/bin/python "
        f"bench/quality_families.py` (also run by `make bench-quality`); total "
        f"{time.perf_counter() - started:.0f} s."
    )
    body = header + "\n\n" + "\n\n".join(parts) + "\n\n" + "\n".join(f"- {n}" for n in notes)
    if not args.no_write and args.only is None:
        write_section(f"{SECTION}\n\n{body.strip()}\n")
    return body


if __name__ == "__main__":
    main()
