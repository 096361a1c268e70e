"""One evaluation protocol for every top-N model, so result tables compare like with like.

Protocol (microsoft/recommenders' MovieLens benchmark): the model is fitted on ``train``; every
user with at least one held-out item gets a top-``k`` list with the items seen in ``train``
removed; every held-out item is relevant; metrics come from :mod:`ml.metrics.ranking` and
:mod:`ml.metrics.beyond`. Tuning uses the same protocol on a validation split carved from train
(:func:`ml.splits.validation_split`), never on the test split, and gives every model, ours or a
peer's, the same grid budget.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.metrics.beyond import catalog_coverage, intra_list_diversity, item_popularity, novelty
from ml.metrics.ranking import ranking_metrics

DISPLAY_NAMES = {
    "precision": "Precision",
    "recall": "Recall",
    "ndcg": "NDCG",
    "map": "MAP",
    "hit_rate": "HitRate",
    "mrr": "MRR",
    "coverage": "Coverage",
    "novelty": "Novelty",
    "diversity": "Diversity",
    "fit_seconds": "fit s",
    "predict_seconds": "predict s",
}


def _check_pair(train: sp.spmatrix, test: sp.spmatrix) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    if not (sp.issparse(train) and sp.issparse(test)):
        raise ValueError("train and test must be scipy.sparse users x items matrices")
    if train.shape != test.shape:
        raise ValueError(f"train {train.shape} and test {test.shape} must have the same shape")
    test = sp.csr_matrix(test)
    test.eliminate_zeros()
    if test.nnz == 0:
        raise ValueError("test has no held-out interactions")
    return sp.csr_matrix(train), test


def recommend_all(
    model: Any, users: np.ndarray, train: sp.csr_matrix, k: int, batch_size: int = 1024
) -> np.ndarray:
    """Top-``k`` lists ``[len(users), k]`` (seen train items removed), computed in batches."""
    lists = np.full((len(users), k), -1, dtype=np.int64)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        ids, _ = model.recommend(batch, train[batch], n=k, filter_seen=True)
        lists[start : start + len(batch)] = ids
    return lists


def evaluate(
    model: Any,
    train: sp.spmatrix,
    test: sp.spmatrix,
    k: int = 10,
    item_vectors: np.ndarray | None = None,
    item_categories: np.ndarray | None = None,
    batch_size: int = 1024,
    max_users: int | None = None,
) -> dict[str, float]:
    """Metrics of a fitted model on ``test`` (same shape as ``train``).

    Returns the ranking metrics at ``k``, catalog coverage and novelty (popularity from
    ``train``), intra-list diversity when item vectors or categories are given, the number of
    evaluated users and the seconds spent recommending. With ``max_users``, at most that many
    users with held-out items are scored, the same random sample on every call (so trials of a
    search compare on the same users).
    """
    train, test = _check_pair(train, test)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(0).choice(users, max_users, replace=False))
    started = time.perf_counter()
    lists = recommend_all(model, users, train, k, batch_size)
    predict_seconds = time.perf_counter() - started
    results = ranking_metrics(lists, test[users], k)
    results[f"coverage@{k}"] = catalog_coverage(lists, train.shape[1])
    if (lists >= 0).any():
        results[f"novelty@{k}"] = novelty(lists, item_popularity(train))
    if item_vectors is not None or item_categories is not None:
        results[f"diversity@{k}"] = intra_list_diversity(
            lists, item_vectors=item_vectors, item_categories=item_categories
        )
    results["users"] = float(len(users))
    results["predict_seconds"] = predict_seconds
    return results


def _as_model(model_or_factory: Any) -> Any:
    is_class = isinstance(model_or_factory, type)
    if not is_class and hasattr(model_or_factory, "recommend") and hasattr(model_or_factory, "fit"):
        return model_or_factory
    if callable(model_or_factory):
        return model_or_factory()
    raise ValueError("expected a model (with fit and recommend) or a callable that builds one")


def fit_and_evaluate(
    model_or_factory: Any,
    train: sp.spmatrix,
    test: sp.spmatrix,
    validation: sp.spmatrix | None = None,
    k: int = 10,
    item_vectors: np.ndarray | None = None,
    item_categories: np.ndarray | None = None,
    name: str | None = None,
    **fit_options: Any,
) -> dict[str, Any]:
    """Fit (timed) then :func:`evaluate`; one result row with ``model`` and ``fit_seconds``.

    ``validation`` (same shape as ``train``) is handed to ``fit`` for early stopping only; the
    metrics always come from ``test``. Extra keyword arguments go to ``fit`` (e.g. features).
    """
    model = _as_model(model_or_factory)
    if validation is not None:
        fit_options["validation"] = validation
    started = time.perf_counter()
    model.fit(train, **fit_options)
    fit_seconds = time.perf_counter() - started
    metrics = evaluate(
        model, train, test, k, item_vectors=item_vectors, item_categories=item_categories
    )
    row: dict[str, Any] = {"model": name or getattr(model, "name", type(model).__name__)}
    row.update(metrics)
    row["fit_seconds"] = fit_seconds
    return row


@dataclass
class TuneResult:
    """Outcome of :func:`tune`: best parameters, their validation score, and every trial."""

    best_params: dict[str, Any]
    best_score: float
    trials: list[dict[str, Any]] = field(default_factory=list)


def parameter_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in a stable order."""
    if not grid:
        return [{}]
    names = sorted(grid)
    for name in names:
        if isinstance(grid[name], str) or not len(grid[name]):
            raise ValueError(f"grid[{name!r}] must be a non-empty list of values")
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(grid[n] for n in names))
    ]


def tune(
    factory: Callable[..., Any],
    grid: Mapping[str, Sequence[Any]],
    train: sp.spmatrix,
    validation: sp.spmatrix,
    metric: str = "ndcg@10",
    max_trials: int | None = None,
    seed: int = 0,
    pass_validation_to_fit: bool = True,
    **fit_options: Any,
) -> TuneResult:
    """Grid search: fit ``factory(**params)`` on ``train``, score ``metric`` on ``validation``.

    ``max_trials`` caps the budget by sampling that many grid points (seeded), so every model in
    a comparison can get the same number of fits. The cutoff k comes from the metric name.
    """
    if "@" not in metric:
        raise ValueError(f"metric must look like 'ndcg@10', got {metric!r}")
    k = int(metric.split("@", 1)[1])
    candidates = parameter_grid(grid)
    if max_trials is not None and max_trials < len(candidates):
        if max_trials < 1:
            raise ValueError("max_trials must be at least 1")
        chosen = np.random.default_rng(seed).choice(len(candidates), max_trials, replace=False)
        candidates = [candidates[i] for i in sorted(chosen)]
    trials = []
    for params in candidates:
        row = fit_and_evaluate(
            lambda params=params: factory(**params),
            train,
            validation,
            validation=validation if pass_validation_to_fit else None,
            k=k,
            **fit_options,
        )
        if metric not in row:
            raise ValueError(f"unknown metric {metric!r}; evaluate gives {sorted(row)}")
        trials.append({"params": params, "score": float(row[metric]), **row})
    best = max(trials, key=lambda trial: trial["score"])
    return TuneResult(dict(best["params"]), best["score"], trials)


def display_name(column: str) -> str:
    """``"ndcg@10"`` -> ``"NDCG@10"``; unknown names are returned unchanged."""
    base, at, cutoff = column.partition("@")
    return DISPLAY_NAMES.get(base, base) + at + cutoff


def markdown_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str | tuple[str, str]],
    digits: int = 4,
) -> str:
    """Rows of results as a GitHub markdown table (returned, so callers print or save it).

    A column is a row key (its header is :func:`display_name` of it) or a ``(key, header)``
    pair. Floats get ``digits`` decimals; missing values are left blank.
    """
    keys = [column if isinstance(column, str) else column[0] for column in columns]
    headers = [display_name(column) if isinstance(column, str) else column[1] for column in columns]

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float | np.floating):
            return f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(keys))) + "|")
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(key)) for key in keys) + " |")
    return "\n".join(lines)
