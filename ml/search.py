"""Model search: random search over declared ranges within a time budget.

Every family declares its ranges (``Model.search_space()``: name -> :class:`LogUniform`,
:class:`IntRange` or :class:`Choice`). The search tries, in order, the starting points it is
given (the last winner, so a retrain never does worse than re-fitting it), each family's
defaults, then random points drawn round-robin over the better half of the families (ranked by
their best so far, re-ranked every round: successive halving at the family level), and stops when the next fit
would run past the budget (estimated from that family's slowest fit so far), after
``max_trials`` points, or when ``patience`` random points in a row found nothing better. The objective is
the caller's: fit on a fit part, score the primary metric on a validation part, higher is better.
A trial that raises is recorded with its error and never wins.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return float(f"{value:.3g}")


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int  # inclusive
    log: bool = False

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            return int(round(math.exp(rng.uniform(math.log(self.low), math.log(self.high)))))
        return int(rng.integers(self.low, self.high + 1))


@dataclass(frozen=True)
class Choice:
    values: tuple

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]


Dimension = LogUniform | IntRange | Choice


@dataclass
class Trial:
    family: str
    params: dict[str, Any]
    metric: float | None
    seconds: float
    origin: str  # "start", "default" or "random"
    error: str = ""


@dataclass
class SearchResult:
    metric: str
    budget_seconds: float
    trials: list[Trial] = field(default_factory=list)

    @property
    def best(self) -> Trial | None:
        scored = [trial for trial in self.trials if trial.metric is not None]
        return max(scored, key=lambda trial: trial.metric) if scored else None

    @property
    def seconds(self) -> float:
        return sum(trial.seconds for trial in self.trials)

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "metric": self.metric,
            "budget_seconds": self.budget_seconds,
            "seconds": round(self.seconds, 3),
            "best": asdict(best) if best else None,
            "trials": [asdict(trial) for trial in self.trials],
        }


def sample_params(space: dict[str, Dimension], rng: np.random.Generator) -> dict[str, Any]:
    return {name: dimension.sample(rng) for name, dimension in sorted(space.items())}


def random_search(
    spaces: dict[str, dict[str, Dimension]],
    objective: Callable[[str, dict[str, Any]], float],
    *,
    metric: str,
    budget_seconds: float,
    seed: int = 0,
    start: Iterable[tuple[str, dict[str, Any]]] = (),
    max_trials: int | None = None,
    patience: int | None = 20,
    progress: Callable[[float, str], None] | None = None,
) -> SearchResult:
    """Search ``spaces`` (family -> its ranges) for the best ``objective(family, params)``.

    Starting points and each family's defaults (``{}``) always run, so there is a winner even
    when the budget is smaller than one fit; random points follow while the budget lasts.
    """
    if not spaces:
        raise ValueError("model search needs at least one family")
    rng = np.random.default_rng(seed)
    result = SearchResult(metric=metric, budget_seconds=float(budget_seconds))
    slowest: dict[str, float] = {}
    began = time.monotonic()

    def attempt(family: str, params: dict[str, Any], origin: str) -> None:
        started = time.monotonic()
        try:
            value, error = float(objective(family, params)), ""
            if not math.isfinite(value):
                value, error = None, f"{metric} is not finite"
        except (ValueError, ArithmeticError, np.linalg.LinAlgError, MemoryError) as problem:
            value, error = None, f"{type(problem).__name__}: {problem}"
        seconds = time.monotonic() - started
        slowest[family] = max(slowest.get(family, 0.0), seconds)
        result.trials.append(Trial(family, dict(params), value, round(seconds, 3), origin, error))
        if progress is not None:
            best = result.best
            progress(
                min((time.monotonic() - began) / max(budget_seconds, 1e-9), 1.0),
                f"search: {len(result.trials)} tried, best {best.family} {metric} {best.metric:.4f}"
                if best
                else f"search: {len(result.trials)} tried",
            )

    def room_for(family: str) -> bool:
        if max_trials is not None and len(result.trials) >= max_trials:
            return False
        if patience is not None and since_best() >= patience:
            return False
        return time.monotonic() - began + slowest.get(family, 0.0) <= budget_seconds

    def since_best() -> int:
        best = result.best
        return len(result.trials) - 1 - result.trials.index(best) if best else len(result.trials)

    seen: set[tuple[str, str]] = set()

    def fresh(family: str, params: dict[str, Any]) -> bool:
        key = (family, repr(sorted(params.items())))
        if key in seen:
            return False
        seen.add(key)
        return True

    for family, params in start:
        if family in spaces and fresh(family, params):
            attempt(family, params, "start")
    for family in spaces:
        if fresh(family, {}):
            attempt(family, {}, "default")
    searchable = [family for family, space in spaces.items() if space]
    misses = 0

    def leaders() -> list[str]:
        def best_of(family: str) -> float:
            scores = [
                t.metric for t in result.trials if t.family == family and t.metric is not None
            ]
            return max(scores, default=-math.inf)

        ranked = sorted(searchable, key=best_of, reverse=True)
        return ranked[: max(1, math.ceil(len(ranked) / 2))]

    while searchable and misses < 50:
        progressed = False
        for family in leaders():
            if not room_for(family):
                continue
            params = sample_params(spaces[family], rng)
            if fresh(family, params):
                attempt(family, params, "random")
                progressed = True
        if not progressed:
            if not any(room_for(family) for family in leaders()):
                break
            misses += 1  # every draw repeated a point tried already (a small space)
    return result
