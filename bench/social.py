"""``python bench/social.py``: people-you-may-know quality, scale and serving for social.

``--part quality``: SNAP ego-Facebook with 10% of the edges held out (test). The learned ranker
(:class:`ml.models.people_ranker.PeopleRanker`) is tuned on a validation 10% of the other 90%
(fitted on the remaining 81%), then fitted on the 90% and compared on the test edges with
Adamic-Adar, common neighbours and resource allocation (no hyperparameters to tune): AUC of
test edges against as many sampled non-edges, and Recall@10 / NDCG@10 of every node's top 10
among the people it is not linked to, against its test edges.

``--part scale [--epochs 5]``: a synthetic follow graph of 100,000 people and 2,000,000 follows
(communities of 100, 80% of follows inside one): time and peak memory (this process's max RSS)
to fit and to compute every person's top 50, on this machine's cores.

``--part serve``: p50/p99 of GET /social/suggestions and POST /social/follows under gunicorn
against the floor (bench/scenario_serve.py), on the demo store with the social demo graph.

Each part prints markdown and writes its own RESULTS section.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from results_file import write_section  # noqa: E402
from serve import load_average  # noqa: E402

from ml.evaluation import markdown_table  # noqa: E402
from ml.metrics.classification import roc_auc  # noqa: E402
from ml.metrics.ranking import ranking_metrics  # noqa: E402

SEED = 0
GRID = [
    {"rerank_depth": 20, "l2": 1e-3},
    {"rerank_depth": 50, "l2": 1e-3},
    {"rerank_depth": 100, "l2": 1e-3},
    {"rerank_depth": 50, "l2": 1e-2},
]


def split_edges(edges: np.ndarray, share: float, rng) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(len(edges))
    cut = int(len(edges) * share)
    return edges[order[:cut]], edges[order[cut:]]


def non_edges(rng, n: int, edges: np.ndarray, count: int) -> np.ndarray:
    """``count`` distinct node pairs (u < v) that are not edges, uniformly drawn."""
    taken = set((edges[:, 0] * n + edges[:, 1]).tolist())
    found: set[int] = set()
    while len(found) < count:
        pairs = np.sort(rng.integers(0, n, (2 * count, 2)), axis=1)
        keys = pairs[pairs[:, 0] != pairs[:, 1]] @ np.array([n, 1])
        found.update(k for k in keys.tolist() if k not in taken)
    chosen = np.array(sorted(found))[:count]
    return np.c_[chosen // n, chosen % n]


def relevant_of(held: np.ndarray, n: int) -> tuple[np.ndarray, sp.csr_matrix]:
    """Nodes with held-out links and, row for row, those links (both ends of each)."""
    both = np.r_[held, held[:, ::-1]]
    nodes, row = np.unique(both[:, 0], return_inverse=True)
    matrix = sp.csr_matrix((np.ones(len(both)), (row, both[:, 1])), shape=(len(nodes), n))
    return nodes, matrix


class Ranked:
    """A fitted model's evaluation interface: top-10 ids per node and pair scores."""

    def __init__(self, label, top10, score, params, seconds):
        self.label, self.top10, self.score = label, top10, score
        self.params, self.seconds = params, seconds


def fit_family(label: str, params: dict, fit_edges: np.ndarray, n: int) -> Ranked:
    from ml.models.link_prediction import AdamicAdar, CommonNeighbours
    from ml.models.people_ranker import PeopleRanker

    started = time.perf_counter()
    if label == "Adamic-Adar":
        model = AdamicAdar().fit(fit_edges, n_nodes=n)
        top10 = lambda nodes: model.recommend(nodes, 10)[0]  # noqa: E731
    elif label == "common neighbours":
        model = CommonNeighbours().fit(fit_edges, n_nodes=n)
        top10 = lambda nodes: model.recommend(nodes, 10)[0]  # noqa: E731
    else:
        model = PeopleRanker(**params).fit(fit_edges, n_nodes=n, directed=False)
        top10 = lambda nodes: model.suggest(nodes, 10).ids  # noqa: E731
    return Ranked(label, top10, model.score, params, time.perf_counter() - started)


def ranking(ranked: Ranked, held: np.ndarray, n: int) -> dict[str, float]:
    nodes, relevant = relevant_of(held, n)
    found = ranking_metrics(ranked.top10(nodes), relevant, 10)
    return {"recall": found["recall@10"], "ndcg": found["ndcg@10"]}


def quality() -> str:
    from ml.datasets.snap import load_ego_facebook

    edges = load_ego_facebook()
    n = int(edges.max()) + 1
    rng = np.random.default_rng(SEED)
    test, rest = split_edges(edges, 0.1, rng)
    validation, fit = split_edges(rest, 0.1, rng)
    print(f"ego-Facebook: {n} nodes, {len(edges)} edges; test {len(test)}, val {len(validation)}")
    tried = []
    for params in GRID:
        ranked = fit_family("learned ranker", params, fit, n)
        tried.append((ranking(ranked, validation, n)["recall"], params, ranked.seconds))
        print("validation", tried[-1], flush=True)
    best_recall, best, _ = max(tried, key=lambda entry: entry[0])
    aa_validation = ranking(fit_family("Adamic-Adar", {}, fit, n), validation, n)["recall"]
    test_pairs = np.r_[test, non_edges(rng, n, edges, len(test))]
    labels = np.r_[np.ones(len(test)), np.zeros(len(test))]
    rows = []
    families = [
        ("Adamic-Adar", {}),
        ("common neighbours", {}),
        (
            "resource allocation",
            {"features": ["resource_allocation"], "embedding_candidates": 0, "interactions": False},
        ),
        ("learned ranker", best),
    ]
    for label, params in families:
        ranked = fit_family(label, params, rest, n)
        found = ranking(ranked, test, n)
        rows.append(
            {
                "model": label,
                "auc": roc_auc(labels, ranked.score(test_pairs)),
                "recall": found["recall"],
                "ndcg": found["ndcg"],
                "params": ", ".join(f"{k}={v}" for k, v in best.items())
                if label == "learned ranker"
                else "none",
                "seconds": f"{ranked.seconds:.0f}",
            }
        )
        print(rows[-1], flush=True)
    aa = rows[0]
    for row in rows:
        row["vs_aa"] = f"{100 * (row['recall'] / aa['recall'] - 1):+.1f}%"
    table = markdown_table(
        rows,
        [
            "model",
            ("auc", "AUC"),
            ("recall", "Recall@10"),
            ("ndcg", "NDCG@10"),
            ("vs_aa", "Recall@10 vs AA"),
            ("params", "tuned on validation"),
            ("seconds", "fit s"),
        ],
        digits=4,
    )
    grid = "; ".join(
        f"{', '.join(f'{k}={v}' for k, v in params.items())}: {recall:.4f} ({seconds:.0f} s)"
        for recall, params, seconds in tried
    )
    return "\n".join(
        [
            "## Social: people you may know on SNAP ego-Facebook (bench/social.py --part quality)",
            "",
            "Command: `flock /tmp/bench.lock python bench/social.py --part quality`",
            "",
            table,
            "",
            f"- ego-Facebook ({n:,} nodes, {len(edges):,} undirected edges). Test: 10% of the "
            f"edges ({len(test):,}), held out; every model is fitted on the other 90%. AUC: the "
            f"test edges against {len(test):,} uniformly sampled non-edges. Recall@10 / NDCG@10: "
            "each node with a test edge gets its top 10 among the people it is not linked to in "
            "the 90%; relevant = its test edges (both ends of each edge count).",
            "- Learned ranker: friends of friends plus 10 nearest nodes by TensorFlow node "
            "embedding; each node's top `rerank_depth` by resource allocation re-ranked by a "
            "linear listwise (softmax) model over common neighbours, Adamic-Adar, resource "
            "allocation, Jaccard, embedding logit, candidate degree, their per-node relative "
            "forms and pairwise products; the weights are learned from 10% of its own training "
            "edges hidden from the features. Embedding: dim 64, 20 epochs, 5 negatives.",
            f"- Tuning (validation 10% of the 90%, fitted on the other 81%), Recall@10: {grid}. "
            f"Adamic-Adar on the same validation split: {aa_validation:.4f} (no hyperparameter; "
            f"common neighbours and resource allocation have none either). Chosen: "
            f"{', '.join(f'{k}={v}' for k, v in best.items())} ({best_recall:.4f}).",
            f"- Load average before/after: {LOAD_BEFORE}, {load_average()} (2 cores shared).",
        ]
    )


def synthetic_follows(n: int, m: int, community: int, rng) -> np.ndarray:
    """``m`` distinct directed follows among ``n`` people in communities of ``community``."""
    found = np.zeros((0, 2), dtype=np.int64)
    while len(found) < m:
        k = int((m - len(found)) * 1.05) + 1000
        sources = rng.integers(0, n, k)
        inside = rng.random(k) < 0.8
        base = sources // community * community
        targets = np.where(inside, base + rng.integers(0, community, k), rng.integers(0, n, k))
        pairs = np.c_[sources, np.minimum(targets, n - 1)]
        found = np.unique(np.r_[found, pairs[pairs[:, 0] != pairs[:, 1]]], axis=0)
    return found[rng.permutation(len(found))[:m]]


def scale(n: int = 100_000, m: int = 2_000_000, epochs: int = 5) -> str:
    from ml.models.people_ranker import PeopleRanker

    rng = np.random.default_rng(SEED)
    started = time.perf_counter()
    edges = synthetic_follows(n, m, 100, rng)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    model = PeopleRanker(epochs=epochs).fit(edges, n_nodes=n, directed=True)
    fitted = time.perf_counter() - started
    started = time.perf_counter()
    lists = model.suggest(np.arange(n), 50)
    ranked = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    filled = float((lists.ids >= 0).sum(axis=1).mean())
    embedding_epochs = len(model.history.to_dict().get("embedding_loss", []))
    summary = model.training_summary
    report = {
        "people": n,
        "follows": len(edges),
        "fit_s": round(fitted, 1),
        "suggest_s": round(ranked, 1),
        "peak_rss_mib": round(peak),
    }
    print(json.dumps(report))
    return "\n".join(
        [
            "## Social: scale (bench/social.py --part scale)",
            "",
            "Command: `flock /tmp/bench.lock python bench/social.py --part scale`",
            "",
            "| people | follows | fit s (embedding + ranker) | top-50 for everyone s "
            "| total s | peak RSS MiB |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {n:,} | {len(edges):,} | {fitted:.0f} | {ranked:.0f} | {fitted + ranked:.0f} "
            f"| {peak:,.0f} |",
            "",
            f"- Synthetic directed follows (communities of 100, 80% of follows inside one; "
            f"generated in {generated:.0f} s, not counted). Default hyperparameters but "
            f"{embedding_epochs} embedding epochs (default 20, left out to keep the run short on "
            "these shared cores); the ranker learned from "
            f"{summary['ranker_positives']:,} hidden follows among "
            f"{summary['ranker_candidates']:,} candidates of {3000:,} people). Lists: "
            f"{filled:.1f} suggestions per person on average (at most 50).",
            "- Peak RSS is this process's maximum resident memory (TensorFlow included); "
            "candidates are featurised in chunks of about 2 million pairs, so the peak does not "
            "grow with the number of people beyond the graph, embeddings and lists themselves.",
            f"- Load average before/after: {LOAD_BEFORE}, {load_average()} (2 cores shared, "
            "other benchmarks and test runs of other scenarios were running).",
        ]
    )


SERVE_USERS = 2000
SERVE_SETUP = f"""
from engine.models import ModelVersion
call_command("seed_demo", users={SERVE_USERS}, items=400, articles=0, days=30, no_progress=True)
version = ModelVersion.objects.filter(scenario="social").latest("pk")
report.update(status=version.status, recall=version.metrics.get("recall@10"),
              aa=version.metrics.get("adamic_adar_recall@10"))
"""


def serve(backends: list[str]) -> str:
    from scenario_serve import (
        SERVE_METHOD,
        SETUP_HEAD,
        SETUP_TAIL,
        Endpoint,
        bench_endpoints,
        serve_table,
    )

    os.environ["RECO_SCENARIOS"] = "scenarios.social"
    users = [f"u{i + 1:05d}" for i in range(SERVE_USERS)]  # the demo store's ids
    rng = np.random.default_rng(SEED)
    pairs = rng.integers(0, SERVE_USERS, (20_000, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    all_rows, infos = [], {}
    for backend in backends:
        endpoints = [
            Endpoint(
                "GET social/suggestions (n=10)",
                [f"/api/v1/social/suggestions?user_id={u}&n=10" for u in users],
            ),
            Endpoint(
                "POST social/follows",
                [
                    (
                        "POST",
                        "/api/v1/social/follows",
                        {"follower_id": users[a], "followee_id": users[b]},
                    )
                    for a, b in pairs.tolist()
                ],
            ),
        ]
        info, rows = bench_endpoints(
            SETUP_HEAD + SERVE_SETUP + SETUP_TAIL, endpoints, backend=backend
        )
        infos[backend] = {
            k: round(v, 4) if isinstance(v, float) else v for k, v in info.items() if k != "key"
        }
        all_rows += rows
    return "\n".join(
        [
            "## Social: serving (bench/social.py --part serve)",
            "",
            f"Command: `flock /tmp/bench.lock python bench/social.py --part serve --backend "
            f"{'|'.join(backends)}`",
            "",
            SERVE_METHOD,
            "",
            *serve_table(all_rows),
            "",
            f"- Store: seed_demo with {SERVE_USERS} shoppers and the social demo graph, then "
            f"its first model (status and held-out recall@10 vs Adamic-Adar's per backend: "
            f"{json.dumps(infos)}). /suggestions rotates over every shopper: the precomputed "
            "list read from numpy, then one query each for follows, blocks both ways and "
            "opt-outs among the listed people. /follows posts random pairs (a repeat is a 200 "
            "that changes nothing; a pair across a block a 400, counted as non-2xx).",
            f"- Load average before/after: {LOAD_BEFORE}, {load_average()}.",
        ]
    )


LOAD_BEFORE = load_average()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["quality", "scale", "serve"], required=True)
    parser.add_argument(
        "--backend", choices=["embedded", "postgresql+redis", "both"], default="embedded"
    )
    parser.add_argument("--epochs", type=int, default=5, help="Embedding epochs (scale part).")
    args = parser.parse_args()
    if args.part == "quality":
        text = quality()
    elif args.part == "scale":
        text = scale(epochs=args.epochs)
    else:
        both = ["embedded", "postgresql+redis"]
        text = serve(both if args.backend == "both" else [args.backend])
    text += "\n"
    print(text)
    write_section(text)


if __name__ == "__main__":
    main()
