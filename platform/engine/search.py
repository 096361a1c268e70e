"""Model search in the training task, for every scenario (as Gorse's model searcher and
AWS Personalize's HPO do).

A scenario's ``train`` hands :func:`search_model` the families it offers with their ranges and
an objective (fit on a fit part carved from its training split, score the primary metric on the
validation part); the search starts from the last promoted winner and the operator's configured
model, tries defaults, then random points within ``search_budget_seconds``. The scenario refits
the winner and returns the record in ``TrainingOutcome.search``; the engine stores it on the
version, where the admin shows every point tried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.models import ModelVersion
from ml.search import Dimension, random_search


def last_winner(slug: str) -> tuple[str, dict[str, Any]] | None:
    """The served version's model and hyperparameters (what a retrain starts from)."""
    served = (
        ModelVersion.objects.filter(scenario=slug, status=ModelVersion.Status.PROMOTED)
        .order_by("-promoted_at", "-pk")
        .first()
    )
    if served is None or not served.algorithm:
        return None
    return served.algorithm, dict(served.hyperparameters or {})


def search_model(
    slug: str,
    settings: dict[str, Any],
    spaces: dict[str, dict[str, Dimension]],
    objective: Callable[[str, dict[str, Any]], float],
    *,
    metric: str,
    progress: Callable[[float, str], None] | None = None,
    seed: int = 0,
) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """(family, hyperparameters, search record) to refit; the configured model and no record
    when ``model_search`` is off."""
    configured = (settings.get("model") or "", dict(settings.get("hyperparameters") or {}))
    if not settings.get("model_search"):
        return configured[0], configured[1], None
    families = settings.get("search_families") or list(spaces)
    unknown = sorted(set(families) - set(spaces))
    if unknown:
        raise ValueError(f"search_families: unknown {unknown}; this scenario offers {list(spaces)}")
    chosen = {family: spaces[family] for family in families}
    start = [point for point in (last_winner(slug), configured) if point and point[0] in chosen]
    result = random_search(
        chosen,
        objective,
        metric=metric,
        budget_seconds=float(settings.get("search_budget_seconds", 0)),
        seed=seed,
        start=start,
        max_trials=int(settings.get("search_max_trials") or 0) or None,
        progress=progress,
    )
    best = result.best
    if best is None:
        errors = "; ".join(f"{t.family}: {t.error}" for t in result.trials[:3])
        raise ValueError(f"every model search trial failed ({errors})")
    return best.family, best.params, result.to_dict()
