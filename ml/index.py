"""Nearest-neighbour indexes for serving: exact numpy search, or faiss above a catalog size.

Both kinds answer ``search(queries, k, exclude)`` with ``(ids, scores)`` best first, padded with
-1 / -inf, so callers never care which one they hold. Scores are inner products; with
``metric="cosine"`` vectors and queries are normalised first, so they are cosines. An index
saves to a folder as ``index.json`` plus ``index.npz`` (faiss indexes as the bytes of
``faiss.serialize_index``), never pickle, so web workers load it with numpy and faiss only.

faiss parallelises each search with OpenMP. Several serving processes on one machine would each
start one thread per core and slow each other down, so every faiss index sets the process's
thread count to ``threads`` (default ``$RECO_FAISS_THREADS`` or 1).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.base import top_n

METRICS = ("ip", "cosine")
CONFIG_FILE = "index.json"
ARRAYS_FILE = "index.npz"
DEFAULT_EXACT_THRESHOLD = 50_000

Exclusions = list[np.ndarray | list[int]] | sp.spmatrix | None


def _check_vectors(vectors: np.ndarray, what: str = "vectors") -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty 2-D array [n, dim], got {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return vectors


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _exclusion_lists(exclude: Exclusions, n_queries: int, n_items: int) -> list[np.ndarray]:
    if exclude is None:
        return [np.zeros(0, np.int64)] * n_queries
    if sp.issparse(exclude):
        matrix = sp.csr_matrix(exclude)
        if matrix.shape != (n_queries, n_items):
            raise ValueError(f"exclude matrix must have shape ({n_queries}, {n_items})")
        return [matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]] for i in range(n_queries)]
    if len(exclude) != n_queries:
        raise ValueError("exclude must hold one list of item indices per query")
    lists = [np.asarray(items, dtype=np.int64).reshape(-1) for items in exclude]
    if any(((items < 0) | (items >= n_items)).any() for items in lists):
        raise ValueError(f"exclude holds item indices outside [0, {n_items})")
    return lists


class _Index:
    """Shared validation and save/load of both index kinds."""

    kind = ""

    def __init__(self, metric: str):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        self.metric = metric
        self.n_items = 0
        self.dim = 0

    def _prepare_queries(self, queries: np.ndarray, k: int) -> np.ndarray:
        queries = _check_vectors(np.atleast_2d(queries), "queries")
        if queries.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {queries.shape[1]}, index has {self.dim}")
        if k < 1:
            raise ValueError("k must be at least 1")
        return _normalise(queries) if self.metric == "cosine" else queries

    def search(
        self, queries: np.ndarray, k: int = 10, exclude: Exclusions = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item indices and scores per query row, excluded items left out."""
        raise NotImplementedError

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config, arrays = self._state()
        config = {"kind": self.kind, "metric": self.metric, **config}
        np.savez(path / ARRAYS_FILE, **arrays)
        (path / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
        return path


class ExactIndex(_Index):
    """Brute-force inner product over all items: exact, and fast enough for small catalogs."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray, metric: str = "ip", batch_size: int = 1024):
        super().__init__(metric)
        vectors = _check_vectors(vectors)
        self.vectors = _normalise(vectors) if metric == "cosine" else vectors
        self.n_items, self.dim = self.vectors.shape
        self.batch_size = batch_size

    def search(
        self, queries: np.ndarray, k: int = 10, exclude: Exclusions = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = self._prepare_queries(queries, k)
        excluded = _exclusion_lists(exclude, len(queries), self.n_items)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        for start in range(0, len(queries), self.batch_size):
            block = queries[start : start + self.batch_size] @ self.vectors.T
            for row in range(len(block)):
                block[row, excluded[start + row]] = -np.inf
            ids[start : start + len(block)], scores[start : start + len(block)] = top_n(block, k)
        return ids, scores

    def _state(self):
        return {"batch_size": self.batch_size}, {"vectors": self.vectors}

    @classmethod
    def _from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> ExactIndex:
        index = cls.__new__(cls)
        _Index.__init__(index, config["metric"])
        index.vectors = arrays["vectors"]  # already normalised when the metric is cosine
        index.n_items, index.dim = index.vectors.shape
        index.batch_size = int(config.get("batch_size", 1024))
        return index


def limit_faiss_threads(threads: int | None = None) -> int:
    """Cap faiss's OpenMP threads for this process (default ``$RECO_FAISS_THREADS`` or 1)."""
    import faiss

    if threads is None:
        threads = int(os.environ.get("RECO_FAISS_THREADS", "1"))
    if threads < 1:
        raise ValueError("threads must be at least 1")
    faiss.omp_set_num_threads(threads)
    return threads


class FaissIndex(_Index):
    """Approximate inner-product search with faiss HNSW (default) or IVF.

    HNSW needs no training and gives high recall at low latency; IVF builds faster and uses less
    memory on very large catalogs. ``ef_search`` / ``nprobe`` trade recall for speed.
    """

    KINDS = ("hnsw", "ivf")

    def __init__(
        self,
        vectors: np.ndarray,
        metric: str = "ip",
        kind: str = "hnsw",
        hnsw_neighbors: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        n_lists: int | None = None,
        n_probe: int = 16,
        threads: int | None = None,
    ):
        import faiss

        super().__init__(metric)
        if kind not in self.KINDS:
            raise ValueError(f"faiss index kind must be one of {self.KINDS}, got {kind!r}")
        self.kind = kind
        self.threads = limit_faiss_threads(threads)
        vectors = _check_vectors(vectors)
        if metric == "cosine":
            vectors = _normalise(vectors)
        self.n_items, self.dim = vectors.shape
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, hnsw_neighbors, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            index.hnsw.efSearch = ef_search
        else:
            n_lists = n_lists or max(1, min(self.n_items // 39, int(4 * np.sqrt(self.n_items))))
            quantizer = faiss.IndexFlatIP(self.dim)
            index = faiss.IndexIVFFlat(quantizer, self.dim, n_lists, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors)
            index.nprobe = min(n_probe, n_lists)
        index.add(vectors)
        self.index = index

    def search(
        self, queries: np.ndarray, k: int = 10, exclude: Exclusions = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = self._prepare_queries(queries, k)
        excluded = _exclusion_lists(exclude, len(queries), self.n_items)
        # Fetch enough extra neighbours that k remain after dropping each query's exclusions.
        fetch = min(k + max((len(items) for items in excluded), default=0), self.n_items)
        found_scores, found_ids = self.index.search(queries, fetch)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        for row in range(len(queries)):
            keep = (found_ids[row] >= 0) & ~np.isin(found_ids[row], excluded[row])
            kept_ids, kept_scores = found_ids[row][keep][:k], found_scores[row][keep][:k]
            ids[row, : len(kept_ids)] = kept_ids
            scores[row, : len(kept_ids)] = kept_scores
        return ids, scores

    @property
    def search_effort(self) -> int:
        """HNSW ``efSearch`` or IVF ``nprobe``: higher finds more true neighbours, slower."""
        return int(self.index.hnsw.efSearch if self.kind == "hnsw" else self.index.nprobe)

    @search_effort.setter
    def search_effort(self, value: int) -> None:
        if value < 1:
            raise ValueError("search effort must be at least 1")
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = int(value)
        else:
            self.index.nprobe = int(min(value, self.index.nlist))

    def _state(self):
        import faiss

        config = {"threads": self.threads, "n_items": self.n_items, "dim": self.dim}
        return config, {"faiss_index": faiss.serialize_index(self.index)}

    @classmethod
    def _from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> FaissIndex:
        import faiss

        index = cls.__new__(cls)
        _Index.__init__(index, config["metric"])
        index.kind = config["kind"]
        index.threads = limit_faiss_threads(config.get("threads"))
        index.n_items, index.dim = int(config["n_items"]), int(config["dim"])
        index.index = faiss.deserialize_index(arrays["faiss_index"])
        return index


def build_index(
    vectors: np.ndarray,
    metric: str = "ip",
    exact_threshold: int = DEFAULT_EXACT_THRESHOLD,
    **faiss_options: Any,
) -> ExactIndex | FaissIndex:
    """Exact search up to ``exact_threshold`` items (exact is cheap there), faiss above it."""
    vectors = _check_vectors(vectors)
    if len(vectors) <= exact_threshold:
        return ExactIndex(vectors, metric)
    return FaissIndex(vectors, metric, **faiss_options)


def load_index(path: str | Path) -> ExactIndex | FaissIndex:
    """Load an index saved by ``save``."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"no saved index in {path} (missing {CONFIG_FILE})")
    config = json.loads((path / CONFIG_FILE).read_text())
    with np.load(path / ARRAYS_FILE, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    if config["kind"] == ExactIndex.kind:
        return ExactIndex._from_state(config, arrays)
    if config["kind"] in FaissIndex.KINDS:
        return FaissIndex._from_state(config, arrays)
    raise ValueError(f"{path}: unknown index kind {config['kind']!r}")


def measure_recall(
    index: ExactIndex | FaissIndex, vectors: np.ndarray, queries: np.ndarray, k: int = 10
) -> float:
    """Share of the exact top-``k`` neighbours (over ``vectors``) that ``index`` also returns."""
    exact_ids, _ = ExactIndex(vectors, index.metric).search(queries, k)
    found_ids, _ = index.search(queries, k)
    hits = total = 0
    for expected, found in zip(exact_ids, found_ids, strict=True):
        expected = expected[expected >= 0]
        hits += np.isin(expected, found[found >= 0]).sum()
        total += len(expected)
    return hits / total if total else 1.0


def calibrate_recall(
    index: FaissIndex,
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int = 10,
    target: float = 0.95,
    max_effort: int = 4096,
) -> float:
    """Double the index's search effort until its recall on ``queries`` reaches ``target``.

    Returns the recall reached (the last one measured if ``max_effort`` stops the search), so a
    training job can record it next to the exported index.
    """
    recall = measure_recall(index, vectors, queries, k)
    while recall < target and index.search_effort < max_effort:
        previous = index.search_effort
        index.search_effort = min(previous * 2, max_effort)
        if index.search_effort == previous:  # IVF already probes every list
            break
        recall = measure_recall(index, vectors, queries, k)
    return recall
