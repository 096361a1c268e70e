"""Serving indexes: exact results by hand, faiss recall against exact, save/load round trips."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
import scipy.sparse as sp

from ml.index import (
    ExactIndex,
    FaissIndex,
    build_index,
    calibrate_recall,
    limit_faiss_threads,
    load_index,
    measure_recall,
)


def clustered_vectors(n: int = 2000, dim: int = 24, clusters: int = 20, seed: int = 0):
    """Items around random centres, as learned embeddings tend to be; queries from the same."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    items = centres[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, dim))
    queries = centres[rng.integers(clusters, size=100)] + 0.3 * rng.normal(size=(100, dim))
    return items.astype(np.float32), queries.astype(np.float32)


def test_exact_inner_product_and_cosine_rank_differently():
    vectors = np.array([[1.0, 0.0], [0.0, 3.0]])
    query = np.array([[1.0, 0.5]])
    ids, scores = ExactIndex(vectors, "ip").search(query, k=2)
    assert ids.tolist() == [[1, 0]]
    assert scores[0].tolist() == pytest.approx([1.5, 1.0])
    ids, scores = ExactIndex(vectors, "cosine").search(query, k=2)
    assert ids.tolist() == [[0, 1]]
    assert scores[0] == pytest.approx([1 / np.sqrt(1.25), 0.5 / np.sqrt(1.25)])


def test_exact_exclusions_and_padding():
    index = ExactIndex(np.eye(3), "ip")
    queries = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    ids, scores = index.search(queries, k=3, exclude=[[0], [2, 1]])
    assert ids.tolist() == [[1, 2, -1], [0, -1, -1]]
    assert np.isneginf(scores[0, 2])
    as_matrix = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 1]]))
    assert np.array_equal(index.search(queries, k=3, exclude=as_matrix)[0], ids)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_faiss_recall_against_exact_search(kind, metric):
    items, queries = clustered_vectors()
    index = FaissIndex(items, metric, kind=kind)
    assert index.kind == kind
    assert measure_recall(index, items, queries, k=10) >= 0.9


def test_faiss_respects_exclusions():
    items, queries = clustered_vectors(n=500)
    index = FaissIndex(items, "ip")
    top, _ = index.search(queries[:5], k=5)
    ids, scores = index.search(queries[:5], k=5, exclude=[row[:3] for row in top])
    for row in range(5):
        assert not np.isin(top[row, :3], ids[row]).any()
        assert np.array_equal(ids[row, :2], top[row, 3:])  # the survivors move up
    assert (np.diff(scores, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("options", [{"exact_threshold": 10_000}, {"exact_threshold": 100}])
def test_save_load_round_trip_gives_identical_results(tmp_path, options):
    items, queries = clustered_vectors(n=800)
    index = build_index(items, "cosine", **options)
    expected_kind = "exact" if options["exact_threshold"] >= 800 else "hnsw"
    assert index.kind == expected_kind
    loaded = load_index(index.save(tmp_path / "index"))
    assert loaded.kind == expected_kind and loaded.metric == "cosine"
    for got, want in zip(loaded.search(queries, 7), index.search(queries, 7), strict=True):
        assert np.array_equal(got, want)
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == ["index.json", "index.npz"]


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_saved_faiss_index_keeps_its_search_effort(tmp_path, kind):
    items, _ = clustered_vectors(n=500)
    index = FaissIndex(items, kind=kind)
    index.search_effort = 7
    assert load_index(index.save(tmp_path / kind)).search_effort == 7


def test_faiss_threads_are_capped(monkeypatch):
    monkeypatch.setenv("RECO_FAISS_THREADS", "1")
    FaissIndex(np.eye(4, dtype=np.float32), kind="hnsw")
    assert faiss.omp_get_max_threads() == 1
    assert limit_faiss_threads(2) == 2 and faiss.omp_get_max_threads() == 2
    limit_faiss_threads(1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ExactIndex(np.eye(2), "l2"), "metric"),
        (lambda: ExactIndex(np.zeros((0, 2))), "non-empty"),
        (lambda: ExactIndex(np.array([[np.nan, 1.0]])), "NaN"),
        (lambda: ExactIndex(np.eye(2)).search(np.ones((1, 3))), "dimension"),
        (lambda: ExactIndex(np.eye(2)).search(np.ones((1, 2)), k=0), "k must"),
        (lambda: ExactIndex(np.eye(2)).search(np.ones((1, 2)), exclude=[[5]]), "outside"),
        (lambda: ExactIndex(np.eye(2)).search(np.ones((2, 2)), exclude=[[0]]), "one list"),
        (lambda: FaissIndex(np.eye(2), kind="lsh"), "kind"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_load_index_from_an_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="index.json"):
        load_index(tmp_path)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_low_effort_loses_recall_and_calibration_wins_it_back(kind):
    # Unclustered random vectors are the hard case for approximate search.
    rng = np.random.default_rng(1)
    items = rng.normal(size=(3000, 32)).astype(np.float32)
    queries = rng.normal(size=(50, 32)).astype(np.float32)
    index = FaissIndex(items, "ip", kind=kind, hnsw_neighbors=8, ef_construction=40)
    index.search_effort = 1
    assert measure_recall(index, items, queries, k=10) < 0.5
    recall = calibrate_recall(index, items, queries, k=10, target=0.95)
    assert recall >= 0.95
    assert recall == measure_recall(index, items, queries, k=10)
    assert index.search_effort > 1
