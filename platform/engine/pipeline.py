"""The serving pipeline every scenario shares: resolve -> candidates -> filter -> score ->
re-rank -> explain, with the answer memo around it.

:func:`recommend` runs a scenario's stages (its hooks, see :class:`engine.scenario.Scenario`)
for one request; the helpers below are the common filter and re-rank steps, on numpy arrays so a
request costs microseconds, not queries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.db import DatabaseError

from engine.memo import AnswerMemo, ArtifactMemo
from engine.models import ModelVersion
from engine.routing import routes
from engine.scenario import Recommendation, RecommendationRequest, Scenario, ServingContext
from engine.snapshot import snapshots
from ml.rerank import mmr_order

logger = logging.getLogger(__name__)


@dataclass
class Slate:
    """Candidates in rank order: catalog rows, their scores and a reason for each."""

    rows: np.ndarray
    scores: np.ndarray
    reasons: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.rows = np.asarray(self.rows, dtype=np.int64)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        if not self.reasons:
            self.reasons = [""] * len(self.rows)
        if not (len(self.rows) == len(self.scores) == len(self.reasons)):
            raise ValueError("rows, scores and reasons must have the same length")

    def __len__(self) -> int:
        return len(self.rows)

    def keep(self, mask: np.ndarray) -> Slate:
        index = np.flatnonzero(mask)
        return Slate(self.rows[index], self.scores[index], [self.reasons[i] for i in index])

    def head(self, n: int) -> Slate:
        return Slate(self.rows[:n], self.scores[:n], self.reasons[:n])


def filter_slate(slate: Slate, allowed: np.ndarray) -> Slate:
    """Drop candidates whose catalog row is not allowed (hidden, excluded, wrong category...)."""
    if not len(slate):
        return slate
    return slate.keep(np.asarray(allowed, dtype=bool)[slate.rows])


def diversify(
    slate: Slate, similarity: Callable[[np.ndarray], np.ndarray], strength: float, n: int
) -> Slate:
    """Maximal marginal relevance (:func:`ml.rerank.mmr_order`); ``strength`` 0 keeps the
    ranking. ``similarity(rows)`` is the pairwise similarity of those catalog rows in [0, 1]
    (products: shared category path depth)."""
    if strength <= 0 or len(slate) <= 1:
        return slate.head(n)
    chosen = mmr_order(slate.scores, similarity(slate.rows), n, strength)
    return Slate(slate.rows[chosen], slate.scores[chosen], [slate.reasons[i] for i in chosen])


def explore(
    slate: Slate,
    pool_rows: np.ndarray,
    rate: float,
    rng: np.random.Generator,
    reason: str,
    protect_top: int = 2,
) -> Slate:
    """Epsilon exploration: each slot after the first ``protect_top`` is, with probability
    ``rate``, given to an item from ``pool_rows`` not already shown (new or rarely shown items
    get impressions, so they can earn interactions)."""
    if rate <= 0 or len(slate) <= protect_top or not len(pool_rows):
        return slate
    shown = set(slate.rows.tolist())
    pool = [row for row in rng.permutation(pool_rows).tolist() if row not in shown]
    rows, scores, reasons = slate.rows.copy(), slate.scores.copy(), list(slate.reasons)
    for position in range(protect_top, len(slate)):
        if not pool:
            break
        if rng.random() < rate:
            rows[position] = pool.pop()
            reasons[position] = reason
    return Slate(rows, scores, reasons)


# ---- the stages ------------------------------------------------------------------------------
# Seconds before this process tries an unreadable artifact again (an operator may restore it).
UNREADABLE_RETRY_SECONDS = 60.0


class UnreadableArtifact(Exception):
    """A version's artifact is missing or cannot be loaded in this process."""


class _LoadedStates:
    """Each scenario's loaded versions in this process (a few per scenario), with the settings
    each was trained with; and the versions whose artifact would not load, with why."""

    def __init__(self):
        self._memos: dict[str, ArtifactMemo] = {}
        self._lock = threading.Lock()
        self._unreadable: dict[tuple[str, int], tuple[str, float]] = {}
        # (scenario, unreadable version) -> (the earlier version serving for it or None, since)
        self.stand_ins: dict[tuple[str, int], tuple[int | None, float]] = {}

    def get(self, scenario: Scenario, version_id: int) -> tuple[object, dict]:
        failed = self._unreadable.get((scenario.slug, version_id))
        if failed is not None and time.monotonic() - failed[1] < UNREADABLE_RETRY_SECONDS:
            raise UnreadableArtifact(failed[0])
        memo = self._memos.get(scenario.slug)
        if memo is None:
            with self._lock:
                memo = self._memos.setdefault(scenario.slug, ArtifactMemo())
        try:
            loaded = memo.get(version_id, lambda: self._load(scenario, version_id))
        except DatabaseError:
            raise  # the database is down (a 503), not the artifact
        except Exception as error:  # a missing, truncated or corrupt artifact, of any kind
            reason = f"{type(error).__name__}: {error}"[:300]
            self._unreadable[(scenario.slug, version_id)] = (reason, time.monotonic())
            logger.error("%s v%s: artifact unreadable: %s", scenario.slug, version_id, reason)
            raise UnreadableArtifact(reason) from error
        self._unreadable.pop((scenario.slug, version_id), None)
        return loaded

    @staticmethod
    def _load(scenario: Scenario, version_id: int) -> tuple[object, dict]:
        version = ModelVersion.objects.get(pk=version_id)
        return scenario.load_state(version), scenario.effective_settings(version.settings)

    def unreadable(self) -> dict[tuple[str, int], str]:
        """The versions this process could not load lately, with why."""
        return {key: reason for key, (reason, _) in list(self._unreadable.items())}

    def clear(self) -> None:
        with self._lock:
            for memo in self._memos.values():
                memo.clear()
            self._unreadable.clear()
            self.stand_ins.clear()


states = _LoadedStates()
answers = AnswerMemo()


def serving_settings(scenario: Scenario, trained_with: dict | None) -> dict:
    """A version's settings (the defaults when none) with the operator's current
    ``request_time_settings`` on top."""
    settings = dict(trained_with or scenario.default_settings)
    saved = routes.saved_settings(scenario.slug)
    settings.update((key, saved[key]) for key in scenario.request_time_settings if key in saved)
    return settings


def context_for(scenario: Scenario, version_id: int | None) -> ServingContext:
    """The loaded version (None when untrained or unreadable: the fallback serves), its
    settings and the catalog snapshot of the scenario's item kinds."""
    state, trained_with = None, None
    if version_id is not None:
        version_id, state, trained_with = _readable(scenario, version_id)
    return ServingContext(
        version_id=version_id,
        state=state,
        settings=serving_settings(scenario, trained_with),
        snapshot=snapshots.get(scenario.item_kinds) if scenario.item_kinds else None,
    )


def _readable(scenario: Scenario, version_id: int) -> tuple[int | None, object, dict | None]:
    """``version_id`` loaded; if its artifact is unreadable, the newest version promoted
    before it that loads (what served before it); else nothing (the fallback serves)."""
    try:
        return version_id, *states.get(scenario, version_id)
    except UnreadableArtifact:
        pass
    stand_in = states.stand_ins.get((scenario.slug, version_id))
    if stand_in is not None and time.monotonic() - stand_in[1] < UNREADABLE_RETRY_SECONDS:
        earlier = [stand_in[0]] if stand_in[0] is not None else []
    else:
        earlier = list(
            ModelVersion.objects.filter(scenario=scenario.slug, promoted_at__isnull=False)
            .exclude(pk=version_id)
            .order_by("-promoted_at")
            .values_list("pk", flat=True)[:3]
        )
    for previous in earlier:
        try:
            loaded = states.get(scenario, previous)
        except UnreadableArtifact:
            continue
        states.stand_ins[(scenario.slug, version_id)] = (previous, time.monotonic())
        return previous, *loaded
    states.stand_ins[(scenario.slug, version_id)] = (None, time.monotonic())
    return None, None, None


def recommend(
    scenario: Scenario, request: RecommendationRequest, version_id: int | None
) -> Recommendation:
    """Answer ``request`` with version ``version_id`` of ``scenario`` (None: never trained)."""
    context = context_for(scenario, version_id)
    scenario.resolve(request, context)
    key = scenario.memo_key(request, context)
    if key is not None:
        key = (scenario.slug, context.version_id, key)
        if answers.holds(key):
            kept = answers.get(key, scenario.memo_token(request, context))
            if kept is not None:
                return Recommendation(
                    kept[0], model_version=context.model_version, item_bodies=kept[1]
                )
    items = scenario.recommend(request, context)
    if key is not None and not (context.cold_start or context.fallback):
        token = scenario.memo_token(request, context)
        answers.put(key, token, scenario.valid_until(context, items), items)
    return Recommendation(
        items,
        model_version=context.model_version,
        cold_start=context.cold_start,
        fallback=context.fallback,
        extra=context.extra,
    )


def warm_up(scenario: Scenario, version_id: int) -> None:
    """Load what serving ``version_id`` needs before the first request."""
    if scenario.item_kinds:
        snapshots.get(scenario.item_kinds)
    try:
        states.get(scenario, version_id)
    except UnreadableArtifact:
        return
    scenario.warm_up(version_id)
