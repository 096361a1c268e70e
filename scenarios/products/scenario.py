"""The products scenario: user -> items, item -> similar items, basket -> items, trending.

Training builds the matrix from the database, evaluates on a held-out split and saves the model
(numpy arrays) plus segment popularity for cold start. Serving loads that artifact once per
process and folds in each user's current interactions, so a new event changes the next answer
without retraining; a precomputed list is used until the user's next event makes it stale (see
``engine.serving.freshness_by_signal``).
"""

from __future__ import annotations

import functools
import importlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max
from django.utils import timezone

from catalog.models import Interaction, User
from engine import serving
from engine.models import ModelVersion
from engine.pipeline import Slate, diversify, explore, filter_slate
from engine.scenario import (
    ItemNotFound,
    Kind,
    Recommendation,
    RecommendationRequest,
    RecommendedItem,
    Scenario,
    TrainingOutcome,
)
from engine.schema import validate_cron
from ml.artifacts import load_folder, save_folder
from ml.base import MODEL_REGISTRY, Recommender
from ml.data import IdMap
from ml.index import DEFAULT_EXACT_THRESHOLD, ExactIndex, FaissIndex, load_index
from scenarios.products.catalog_view import ALL_ROWS, CatalogSnapshot, catalog
from scenarios.products.dataset import build_dataset, event_weights, user_segments

MODEL_FAMILIES = ["popularity", "itemknn", "ease", "als", "rp3beta", "bpr", "two_tower", "neumf"]
SEEN_RULES = {
    "any": None,  # every positive event type
    "purchased": ("purchase",),
    "none": (),
}
TRENDING_WINDOWS = {"day": (1, "today"), "week": (7, "this week"), "month": (30, "this month")}
VERBS = {
    "purchase": "bought",
    "add_to_cart": "added to your cart",
    "view": "viewed",
    "click": "viewed",
    "rating": "rated",
    "like": "liked",
    "share": "shared",
}
POPULAR_TTL_SECONDS = 60
SEGMENT_TOP = 500
HISTORY_LIMIT = 500  # newest events of a user that shape the answer
SIMILAR_INDEX = "similar_index"  # artifact folder of the item-vector index

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "model": {"enum": MODEL_FAMILIES, "description": "model family"},
        "hyperparameters": {"type": "object"},
        "candidate_count": {"type": "integer", "minimum": 10, "maximum": 1000},
        "diversity": {"type": "number", "minimum": 0, "maximum": 1},
        "exploration_rate": {"type": "number", "minimum": 0, "maximum": 0.5},
        "event_weights": {
            "type": "object",
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 100},
        },
        "filter_seen": {"enum": sorted(SEEN_RULES)},
        "filters": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"blocked_categories": {"type": "array", "items": {"type": "string"}}},
        },
        "retrain_schedule": {"type": "string"},
        "auto_promote": {"type": "boolean"},
        "promotion_tolerance": {"type": "number", "minimum": 0, "maximum": 1},
        "test_ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
        "active_user_days": {"type": "integer", "minimum": 1, "maximum": 3650},
        "list_ttl_seconds": {"type": "integer", "minimum": 0},
        "exact_search_max_items": {
            "type": "integer",
            "minimum": 1,
            "description": "similar items: exact search up to this many items, faiss above",
        },
    },
}

DEFAULT_SETTINGS: dict[str, Any] = {
    "model": "als",
    "hyperparameters": {},
    "candidate_count": 100,
    "diversity": 0.0,
    "exploration_rate": 0.0,
    "event_weights": {},
    "filter_seen": "any",
    "filters": {"blocked_categories": []},
    "retrain_schedule": "",
    "auto_promote": True,
    "promotion_tolerance": 0.01,
    "test_ratio": 0.25,
    "active_user_days": 90,
    "list_ttl_seconds": 86400,
    "exact_search_max_items": DEFAULT_EXACT_THRESHOLD,
}


def model_class(name: str) -> type[Recommender]:
    """The model family ``name``; its module is imported on demand (never TensorFlow at import)."""
    if name not in MODEL_REGISTRY:
        try:
            importlib.import_module(f"ml.models.{name}")
        except ModuleNotFoundError:
            raise ValueError(f"model {name!r} is not available in this installation") from None
    cls = MODEL_REGISTRY.get(name)
    if cls is None or not issubclass(cls, Recommender):
        raise ValueError(f"model {name!r} is not a top-N recommender")
    return cls


@functools.cache
def _user_event_sql(vendor: str) -> tuple[str, str]:
    """SQL for one user's (by external id) newest event pk and newest events, per database
    vendor. Plain SQL on the request path: compiling the same ORM queries cost more than
    serving a cached list."""
    interaction, user = Interaction._meta, User._meta
    quote = connection.ops.quote_name

    def column(meta, name: str) -> str:
        return quote(meta.get_field(name).column)

    pk = f"e.{quote(interaction.pk.column)}"
    events = (
        f"FROM {quote(interaction.db_table)} e JOIN {quote(user.db_table)} u "
        f"ON e.{column(interaction, 'user')} = u.{quote(user.pk.column)} "
        f"WHERE u.{column(user, 'external_id')} = %s"
    )
    newest = f"SELECT MAX({pk}) {events}"
    history = (
        f"SELECT {pk}, e.{column(interaction, 'item')}, e.{column(interaction, 'event_type')} "
        f"{events} ORDER BY e.{column(interaction, 'timestamp')} DESC, {pk} DESC "
        f"LIMIT {HISTORY_LIMIT}"
    )
    return newest, history


class _NewestEvents:
    """Each user's newest event pk, re-read only when the database may have changed.

    On SQLite (the embedded default, whose per-process cache makes this the stamp every cached
    answer reads) ``PRAGMA data_version`` moves when another connection commits and the
    connection's ``total_changes`` when it writes itself. While both stand still no user's
    newest event can have changed, so the pragma replaces the query: under gunicorn the query
    was about a tenth of a cached answer's CPU. Other databases are queried each time.
    """

    def __init__(self, capacity: int = 100_000):
        self.capacity = capacity
        self._local = threading.local()  # Django's connections are per thread too

    def get(self, user_id: str) -> int | None:
        if connection.vendor != "sqlite":
            return self._query(user_id)
        connection.ensure_connection()
        raw, local = connection.connection, self._local
        gate = self.gate(raw)
        known = getattr(local, "stamps", None)
        # ``is``: a new connection's counters start over and could repeat the old gate.
        if (
            known is None
            or local.raw is not raw
            or local.gate != gate
            or len(known) > self.capacity
        ):
            local.raw, local.gate, local.stamps = raw, gate, {}
        elif user_id in known:
            return known[user_id]
        local.stamps[user_id] = stamp = self._query(user_id)
        return stamp

    @staticmethod
    def gate(raw) -> tuple[int, int]:
        """What changes whenever the data a SQLite connection reads may have changed."""
        return raw.execute("PRAGMA data_version").fetchone()[0], raw.total_changes

    @staticmethod
    def _query(user_id: str) -> int | None:
        with connection.cursor() as cursor:
            cursor.execute(_user_event_sql(connection.vendor)[0], [user_id])
            return cursor.fetchone()[0]


_newest_events = _NewestEvents()


def newest_event_pk(user_id: str) -> int | None:
    """pk of the user's newest event: a cached list's freshness stamp where the cache is per
    process."""
    return _newest_events.get(user_id)


def history_of(user_id: str) -> list[tuple[int, int, str]]:
    """(event pk, item pk, event type) of the user's newest events, newest first."""
    with connection.cursor() as cursor:
        cursor.execute(_user_event_sql(connection.vendor)[1], [user_id])
        return [tuple(row) for row in cursor.fetchall()]


@dataclass
class ServingState:
    """One version's artifact as loaded in this process."""

    version_id: int
    settings: dict[str, Any]
    model: Recommender
    users: IdMap
    items: IdMap
    segment_index: dict[str, int]
    segment_scores: np.ndarray  # segments x items
    global_scores: np.ndarray
    event_weights: dict[str, float]  # read once per load: real-time fold-in needs them per request
    similar_index: ExactIndex | FaissIndex | None = None  # item vectors, for similar items
    snapshot_build: int | None = None
    catalog_rows: np.ndarray | None = None  # model item index -> catalog row (-1 if gone)
    model_index: np.ndarray | None = None  # catalog row -> model item index (-1 if new)

    @functools.cached_property
    def popular_order(self) -> np.ndarray:
        """Model item indices, most interacted first (ties by index): fills short lists."""
        return np.argsort(-self.global_scores, kind="stable")

    def align(self, snapshot: CatalogSnapshot) -> None:
        if self.snapshot_build == snapshot.build:
            return
        self.catalog_rows = snapshot.rows(self.items.ids)
        index = np.full(len(snapshot.ids), -1, dtype=np.int64)
        known = self.catalog_rows >= 0
        index[self.catalog_rows[known]] = np.flatnonzero(known)
        self.model_index = index
        self.snapshot_build = snapshot.build


_memo = serving.ArtifactMemo()


class _AnswerMemo:
    """Final answers to plain requests in this process, keyed by (version, user, n) and valid
    for one token (stamp, catalog snapshot, request-time settings) until an availability
    window closes on one of its items or opens anywhere (neither needs a catalog change)."""

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._answers: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def holds(self, key: tuple) -> bool:
        return key in self._answers

    def get(self, key: tuple, token: tuple) -> tuple[list, list] | None:
        """The kept answer's items and their response bodies, if still valid."""
        with self._lock:
            found = self._answers.get(key)
            if found is None or found[0] != token or time.time() >= found[1]:
                return None
            self._answers.move_to_end(key)
        return found[2], found[3]

    def put(self, key: tuple, token: tuple, snapshot: CatalogSnapshot, answer: list) -> None:
        """Keep ``answer``, whose items were all recommendable now in ``snapshot``."""
        rows = snapshot.rows([item.item_id for item in answer])
        closes = float(snapshot.available_until[rows].min(initial=np.inf))
        valid_until = min(closes, snapshot.next_opening(time.time()))
        with self._lock:
            self._answers[key] = (token, valid_until, answer, [item.body() for item in answer])
            self._answers.move_to_end(key)
            while len(self._answers) > self.capacity:
                self._answers.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


_answers = _AnswerMemo()


def answer_token(stamp: Any, snapshot: CatalogSnapshot, settings: dict[str, Any]) -> tuple:
    """What a kept answer depends on besides the user: their events, the catalog, re-ranking."""
    return stamp, snapshot.build, settings.get("diversity"), str(settings["filters"])


class ProductsScenario(Scenario):
    slug = "products"
    title = "Products"
    version = "1.0"
    kind = Kind.USER_ITEMS
    primary_metric = "ndcg@10"
    settings_schema = SETTINGS_SCHEMA
    default_settings = DEFAULT_SETTINGS
    request_time_settings = frozenset({"diversity", "exploration_rate", "filters"})

    # ---- settings -------------------------------------------------------------------------
    def validate_settings(self, settings: dict[str, Any]) -> list[str]:
        errors = super().validate_settings(settings)
        if errors:
            return errors
        try:
            model_class(settings["model"])(**settings.get("hyperparameters", {}))
        except (ValueError, TypeError) as error:
            errors.append(f"hyperparameters: {error}")
        if settings.get("retrain_schedule", "").strip():
            problem = validate_cron(settings["retrain_schedule"])
            if problem:
                errors.append(problem)
        return errors

    # ---- training -------------------------------------------------------------------------
    def train(self, version: ModelVersion, artifact_dir: Path, progress) -> TrainingOutcome:
        from ml.evaluation import evaluate
        from ml.splits import stratified_split_matrix

        started = time.monotonic()
        settings = self.effective_settings(version.settings)
        progress(0.05, "building the dataset from the database")
        data = build_dataset(settings)
        cls = model_class(settings["model"])
        params = settings.get("hyperparameters", {})
        features = data.memberships if data.memberships.shape[1] else None
        progress(0.2, f"fitting {cls.name} on the training split")
        train, test = stratified_split_matrix(data.matrix, ratio=1 - settings["test_ratio"])
        metrics: dict[str, float] = {}
        evaluated = cls(**params).fit(train, user_features=features)
        if test.nnz:
            progress(0.5, "evaluating on the held-out split")
            metrics = {
                key: float(value)
                for key, value in evaluate(evaluated, train, test, k=10).items()
                if np.isscalar(value)
            }
        progress(0.65, f"fitting {cls.name} on all data")
        model = cls(**params).fit(data.matrix, user_features=features)
        model.history = evaluated.history
        progress(0.85, "saving artifacts")
        model.save(artifact_dir / "model")
        recall = self._save_similar_index(model, artifact_dir / SIMILAR_INDEX, settings)
        if recall is not None:
            metrics["similar_items_recall@10"] = recall
        positive = data.matrix.copy()
        positive.data[:] = 1.0
        counts = np.asarray(positive.sum(axis=0), dtype=np.float32).ravel()
        per_segment = np.asarray((positive.T @ data.memberships).T, dtype=np.float32)
        per_segment /= np.maximum(per_segment.max(axis=1, keepdims=True), 1e-12)
        save_folder(
            artifact_dir / "serving",
            {"settings": settings},
            {
                "user_ids": data.users.ids,
                "item_ids": data.items.ids,
                "segment_names": data.segment_names,
                "segment_scores": per_segment.reshape(len(data.segment_names), len(data.items)),
                "global_scores": counts / max(float(counts.max()), 1e-12),
            },
        )
        return TrainingOutcome(
            metrics=metrics,
            history=model.history.to_dict(),
            data_snapshot=data.snapshot(),
            train_seconds=time.monotonic() - started,
        )

    @staticmethod
    def _save_similar_index(model: Recommender, folder: Path, settings) -> float | None:
        """Index the model's item vectors (if it has them) for similar items: exact up to
        ``exact_search_max_items``, else faiss, tuned to 95% recall@10 of exact search on a
        sample of items. Returns that recall (None: exact, or no vectors)."""
        from ml.index import build_index, calibrate_recall

        vectors = model.item_embeddings()
        if vectors is None:
            return None
        index = build_index(vectors, "cosine", exact_threshold=settings["exact_search_max_items"])
        recall = None
        if isinstance(index, FaissIndex):
            sample = np.random.default_rng(0).choice(len(vectors), min(len(vectors), 500), False)
            recall = float(calibrate_recall(index, vectors, vectors[sample], k=10))
        index.save(folder)
        return recall

    # ---- loading ----------------------------------------------------------------------------
    def _load(self, version_id: int) -> ServingState:
        version = ModelVersion.objects.get(pk=version_id)
        folder = Path(version.artifact_path)
        config, arrays = load_folder(folder / "serving")
        model = model_class(version.algorithm).load(folder / "model")
        names = arrays["segment_names"].tolist()
        indexed = (folder / SIMILAR_INDEX).is_dir()
        return ServingState(
            version_id=version_id,
            settings=self.effective_settings(config["settings"]),
            model=model,
            users=IdMap(arrays["user_ids"]),
            items=IdMap(arrays["item_ids"]),
            segment_index={name: i for i, name in enumerate(names)},
            segment_scores=arrays["segment_scores"],
            global_scores=arrays["global_scores"],
            event_weights=event_weights(self.effective_settings(config["settings"])),
            similar_index=load_index(folder / SIMILAR_INDEX) if indexed else None,
        )

    def state(self, version_id: int | None) -> ServingState | None:
        """The loaded artifact of ``version_id``; None if there is none or it cannot be read."""
        if version_id is None:
            return None
        try:
            return _memo.get(version_id, lambda: self._load(version_id))
        except (ModelVersion.DoesNotExist, FileNotFoundError, ValueError, KeyError):
            return None

    def warm_up(self, version_id: int | None) -> None:
        catalog.get()
        self.state(version_id)

    # ---- users' histories and candidates --------------------------------------------------
    def _user_candidates(
        self, state: ServingState, snapshot: CatalogSnapshot, user_id: str, history, weights, stamp
    ) -> dict[str, Any]:
        """The candidate list of one user (before request filters), as cached.

        ``stamp`` is the pk of the user's newest event: a cached list with another stamp is stale.
        """
        state.align(snapshot)
        rows = [snapshot.row_of_pk.get(item_pk, -1) for _, item_pk, _ in history]
        seen_types = SEEN_RULES[state.settings["filter_seen"]]
        column, weight, seen, recent = [], [], set(), {}
        for (_, _, kind), row in zip(history, rows, strict=True):
            if row < 0:
                continue
            index = int(state.model_index[row])
            if kind in weights and index >= 0:
                column.append(index)
                weight.append(weights[kind])
                recent.setdefault(index, kind)
            is_seen = kind in weights if seen_types is None else kind in seen_types
            if is_seen and index >= 0:
                seen.add(index)
        user_items = sp.csr_matrix(
            (np.asarray(weight, np.float32), (np.zeros(len(column), np.int64), column)),
            shape=(1, len(state.items)),
        )
        user_items.sum_duplicates()
        ids, scores = state.model.recommend(
            [state.users.get(user_id)],
            user_items,
            n=state.settings["candidate_count"],
            exclude=[sorted(seen)],
            filter_seen=False,
        )
        keep = (ids[0] >= 0) & (scores[0] > 0)
        ids, scores = ids[0][keep], scores[0][keep]
        reasons = self._reasons(state, snapshot, ids, list(recent.items()))
        # No evidence for the rest: fill with popular items rather than arbitrary zero scores.
        room = state.settings["candidate_count"] - len(ids)
        if room > 0:
            taken = np.fromiter(seen | set(ids.tolist()), np.int64)
            # Enough of the popular order to fill the room whatever ``taken`` removes from it.
            head = state.popular_order[: room + len(taken)]
            tail = head[~np.isin(head, taken)][:room]
            ids = np.r_[ids, tail].astype(np.int64)
            scores = np.r_[scores, np.zeros(len(tail), np.float32)]
            reasons += ["popular right now"] * len(tail)
        categories = sorted({snapshot.categories[r] for r in rows if r >= 0})
        return {
            "stamp": stamp,
            "items": [
                [str(item_id), score, reason]
                for item_id, score, reason in zip(
                    state.items.ids[ids].tolist(), scores.tolist(), reasons, strict=True
                )
            ],
            "categories": categories,
        }

    def _reasons(self, state, snapshot, candidates, recent: list[tuple[int, str]]) -> list[str]:
        """ "because you <verb> <title>": the most recent history item closest in the category tree.

        Category closeness rather than the model's own item similarity keeps this cheap for every
        model family (an item-item slice of a 10k-item model costs more than the whole ranking).
        """
        if not len(candidates):
            return []
        history = [(index, kind) for index, kind in recent[:50] if state.catalog_rows[index] >= 0]
        if not history:
            return ["recommended for you"] * len(candidates)
        history_rows = state.catalog_rows[[index for index, _ in history]]
        candidate_rows = state.catalog_rows[np.asarray(candidates, dtype=np.int64)]
        closeness = snapshot.category_closeness(history_rows, np.maximum(candidate_rows, 0))
        closeness[:, candidate_rows < 0] = 0.0
        best = closeness.argmax(axis=0)  # the first maximum: history is newest first
        reasons = []
        for column, source in enumerate(best.tolist()):
            if closeness[source, column] <= 0:
                reasons.append("recommended for you")
                continue
            index, kind = history[source]
            title = snapshot.titles[state.catalog_rows[index]] or state.items.ids[index]
            reasons.append(f"because you {VERBS.get(kind, 'liked')} {title}")
        return reasons

    def score_users(self, version: ModelVersion, progress, user_ids=None) -> dict[str, Any]:
        """Candidate lists for users active within ``active_user_days`` of the newest event, or
        for ``user_ids``."""
        state = self.state(version.pk)
        if state is None:
            return {}
        settings = state.settings
        if user_ids is not None:
            users = User.objects.filter(external_id__in=user_ids)
        else:
            newest = Interaction.objects.aggregate(newest=Max("timestamp"))["newest"]
            if newest is None:
                return {}
            since = newest - timedelta(days=settings["active_user_days"])
            users = User.objects.filter(interactions__timestamp__gte=since).distinct()
        active = list(users.values_list("pk", "external_id"))
        snapshot = catalog.get()
        weights = event_weights(settings)
        by_signal = serving.freshness_by_signal()
        if by_signal:  # stamps first: an event committed while scoring then makes its list stale
            stamps = serving.freshness_of([external_id for _, external_id in active])
        histories: dict[int, list] = {pk: [] for pk, _ in active}
        events = (
            Interaction.objects.filter(user_id__in=list(histories))
            .order_by("user_id", "-timestamp", "-pk")
            .values_list("user_id", "pk", "item_id", "event_type")
        )
        for user_pk, *event in events.iterator(chunk_size=20000):
            if len(histories[user_pk]) < HISTORY_LIMIT:
                histories[user_pk].append(tuple(event))
        lists: dict[str, Any] = {}
        for position, (user_pk, external_id) in enumerate(active):
            history = histories[user_pk]
            if history:
                stamp = stamps[external_id] if by_signal else max(pk for pk, _, _ in history)
                lists[external_id] = self._user_candidates(
                    state, snapshot, external_id, history, weights, stamp
                )
            if position % 500 == 0:
                progress(
                    position / max(len(active), 1), f"scored {position} of {len(active)} users"
                )
        progress(1.0, f"scored {len(lists)} users")
        return lists

    # ---- serving --------------------------------------------------------------------------
    def recommend(self, request: RecommendationRequest, version_id: int | None) -> Recommendation:
        handler = {
            "": self._for_user,
            "similar": self._similar,
            "basket": self._basket,
            "trending": self._trending,
        }[request.mode]
        return handler(request, self.state(version_id), catalog.get())

    def _allowed(
        self, request: RecommendationRequest, snapshot: CatalogSnapshot, settings, rows=ALL_ROWS
    ) -> np.ndarray:
        """Request-time filters and business rules as one mask over ``rows`` of the catalog
        (a cached list's few candidates cost far less than the whole catalog)."""
        allowed = snapshot.recommendable(rows)
        for category in settings.get("filters", {}).get("blocked_categories", []):
            allowed &= ~snapshot.category_mask(category, rows)
        if request.filters.get("category"):
            allowed &= snapshot.category_mask(request.filters["category"], rows)
        prices = snapshot.prices[rows]
        if request.filters.get("min_price") is not None:
            allowed &= prices >= request.filters["min_price"]
        if request.filters.get("max_price") is not None:
            allowed &= prices <= request.filters["max_price"]
        if request.exclude:
            excluded = snapshot.rows(request.exclude)
            allowed &= ~np.isin(np.arange(len(snapshot.ids))[rows], excluded)
        return allowed

    def _finish(
        self, slate: Slate, snapshot: CatalogSnapshot, request, settings, pool=None
    ) -> list[RecommendedItem]:
        """Re-rank (diversity, exploration), cut to n and name the items."""
        slate = diversify(
            slate,
            lambda rows: snapshot.category_closeness(rows, rows),
            float(settings.get("diversity", 0)),
            request.n,
        )
        rate = float(settings.get("exploration_rate", 0))
        if rate > 0 and pool is not None and len(pool):  # a fresh generator costs an OS read
            rng = np.random.default_rng()
            slate = explore(slate, pool, rate, rng, "new in a category you like")
        return [
            RecommendedItem(item_id, score, reason)
            for item_id, score, reason in zip(
                snapshot.ids[slate.rows].tolist(), slate.scores.tolist(), slate.reasons, strict=True
            )
        ]

    def _popular(self, snapshot: CatalogSnapshot, window: str = "") -> Slate:
        """Most interacted items (positive types), all time or in a trending window; cached briefly."""
        key = f"products:popular:{window or 'all'}"
        ranked = cache.get(key)
        if ranked is None:
            events = Interaction.objects.all()
            if window:
                days = TRENDING_WINDOWS[window][0]
                events = events.filter(timestamp__gte=timezone.now() - timedelta(days=days))
            weights = event_weights(self.default_settings)
            ranked = list(
                events.filter(event_type__in=list(weights))
                .values("item_id")
                .annotate(count=Count("id"))
                .order_by("-count", "item_id")
                .values_list("item_id", "count")[:SEGMENT_TOP]
            )
            cache.set(key, ranked, POPULAR_TTL_SECONDS)
        rows = [snapshot.row_of_pk.get(pk, -1) for pk, _ in ranked]
        pairs = [
            (row, count)
            for row, count in zip(rows, [c for _, c in ranked], strict=True)
            if row >= 0
        ]
        top = max((c for _, c in pairs), default=1)
        return Slate(
            [r for r, _ in pairs], [c / top for _, c in pairs], ["popular right now"] * len(pairs)
        )

    def _for_user(self, request, state, snapshot) -> Recommendation:
        settings = self.serving_settings(state and state.settings)
        if state is None:
            allowed = self._allowed(request, snapshot, settings)
            slate = filter_slate(self._popular(snapshot), allowed)
            return Recommendation(self._finish(slate, snapshot, request, settings), fallback=True)
        # A plain request (user and n only, no exploration) has one right answer per user
        # stamp, catalog generation and settings: this process keeps it, so a repeat costs
        # the stamp read alone.
        plain = request.user_id and not (
            request.exclude or any(request.filters.values()) or settings.get("exploration_rate")
        )
        memo_key = (state.version_id, request.user_id, request.n) if plain else None
        stamp = None
        if memo_key is not None and _answers.holds(memo_key):
            stamp = self._stamp(request.user_id)
            kept = _answers.get(memo_key, answer_token(stamp, snapshot, settings))
            if kept is not None:
                return Recommendation(kept[0], model_version=state.version_id, item_bodies=kept[1])
        entry, stamp = self._fresh_candidates(request.user_id, state, snapshot, settings, stamp)
        if entry is None:
            allowed = self._allowed(request, snapshot, settings)
            return self._cold_start(request, state, snapshot, allowed)
        state.align(snapshot)
        items = entry["items"]
        # Without diversity the answer is the first n allowed candidates, so a prefix usually
        # holds it; diversity re-ranks, so it needs them all.
        head = len(items) if settings.get("diversity", 0) > 0 else 2 * request.n
        slate = self._allowed_candidates(
            request, snapshot, settings, items[: head + len(request.exclude)]
        )
        if len(slate) < request.n and head + len(request.exclude) < len(items):
            slate = self._allowed_candidates(request, snapshot, settings, items)
        pool = (
            self._exploration_pool(
                state, snapshot, entry["categories"], self._allowed(request, snapshot, settings)
            )
            if settings.get("exploration_rate", 0) > 0
            else None
        )
        answer = self._finish(slate, snapshot, request, settings, pool)
        if memo_key is not None:
            _answers.put(memo_key, answer_token(stamp, snapshot, settings), snapshot, answer)
        return Recommendation(answer, model_version=state.version_id)

    def _stamp(self, user_id: str) -> Any:
        """The user's freshness stamp: the shared cache's, or the newest event pk where the cache
        is per process (None: no events yet)."""
        if serving.freshness_by_signal():
            return serving.freshness_stamp(user_id)
        return newest_event_pk(user_id)

    def _allowed_candidates(self, request, snapshot, settings, items) -> Slate:
        """Cached ``[item id, score, reason]`` candidates still in the catalog and allowed now."""
        rows = snapshot.rows([item[0] for item in items])
        keep = rows >= 0
        keep[keep] = self._allowed(request, snapshot, settings, rows[keep])
        return Slate(
            rows[keep],
            np.array([item[1] for item in items], dtype=np.float32)[keep],
            [item[2] for item, ok in zip(items, keep, strict=True) if ok],
        )

    def _fresh_candidates(
        self,
        user_id: str | None,
        state: ServingState,
        snapshot: CatalogSnapshot,
        settings,
        stamp: Any = None,
    ) -> tuple[dict[str, Any] | None, Any]:
        """The user's cached candidate list if still fresh, else one computed now and cached, and
        the user's stamp; no list for a user without events (cold start). ``stamp``: the
        stamp, when already read."""
        if not user_id:
            return None, None
        if stamp is not None:
            entry = serving.load_list(self.slug, state.version_id, user_id)
        elif serving.freshness_by_signal():
            entry, stamp = serving.load_list_and_freshness(self.slug, state.version_id, user_id)
        else:
            stamp = newest_event_pk(user_id)
            if stamp is None:
                return None, None
            entry = serving.load_list(self.slug, state.version_id, user_id)
        if entry is not None and entry.get("stamp") == stamp:
            return entry, stamp
        history = history_of(user_id)
        if not history:
            return None, stamp
        entry = self._user_candidates(state, snapshot, user_id, history, state.event_weights, stamp)
        serving.store_list(
            self.slug, state.version_id, user_id, entry, settings["list_ttl_seconds"] or None
        )
        return entry, stamp

    @staticmethod
    def _exploration_pool(state, snapshot, categories, allowed) -> np.ndarray:
        """Allowed items the model has never seen (new) in the categories the user interacts with."""
        if not categories:
            return np.zeros(0, np.int64)
        codes = [
            snapshot.category_names.index(c) for c in categories if c in snapshot.category_names
        ]
        new = (state.model_index < 0) & allowed & np.isin(snapshot.category_codes, codes)
        return np.flatnonzero(new)

    def _cold_start(self, request, state, snapshot, allowed) -> Recommendation:
        """Unknown user or no events yet: popularity in the user's segments, else overall."""
        state.align(snapshot)
        record = (
            User.objects.filter(external_id=request.user_id)
            .values_list("age_band", "gender", "location", "segments")
            .first()
            if request.user_id
            else None
        )
        keys = user_segments(*record) if record else []
        keys += [f"{k}:{v}" for k, v in request.user_attributes.items() if v]
        columns = [state.segment_index[k] for k in keys if k in state.segment_index]
        if columns:
            scores, reason = state.segment_scores[columns].mean(axis=0), "popular in your segment"
        else:
            scores, reason = state.global_scores, "popular right now"
        order = np.argsort(-scores, kind="stable")[:SEGMENT_TOP]
        rows = state.catalog_rows[order]
        keep = rows >= 0
        slate = Slate(rows[keep], scores[order][keep], [reason] * int(keep.sum()))
        slate = filter_slate(slate, allowed)
        return Recommendation(
            self._finish(slate, snapshot, request, self.serving_settings(state.settings)),
            model_version=state.version_id,
            cold_start=True,
        )

    def _similar(self, request, state, snapshot) -> Recommendation:
        item_id = request.item_ids[0]
        row = snapshot.row_of.get(item_id)
        if row is None:
            raise ItemNotFound(f"item {item_id!r} is not in the catalog")
        settings = self.serving_settings(state and state.settings)
        allowed = self._allowed(request, snapshot, settings)
        allowed[row] = False
        title = snapshot.titles[row] or item_id
        content = snapshot.content_similarity(row)
        collaborative = Slate([], [])
        if state is not None:
            state.align(snapshot)
            index = int(state.model_index[row])
            if index >= 0:
                ids, scores = self._similar_to(state, index, settings["candidate_count"])
                found = (ids[0] >= 0) & (scores[0] > 0)
                rows, scores = state.catalog_rows[ids[0][found]], scores[0][found]
                keep = rows >= 0
                collaborative = Slate(
                    rows[keep],
                    scores[keep],
                    [f"shoppers who liked {title} also liked this"] * int(keep.sum()),
                )
        collaborative = filter_slate(collaborative, allowed)
        # Items without interactions (new) join on content: title words, category and tags.
        is_new = np.ones(len(snapshot.ids), bool) if state is None else state.model_index < 0
        cold = np.flatnonzero(allowed & is_new & (content > 0))
        cold = cold[np.argsort(-content[cold], kind="stable")][: request.n]
        top = float(collaborative.scores.max()) if len(collaborative) else 1.0
        content_slate = Slate(
            cold,
            content[cold] * max(top, 1e-6),
            [f"new, similar to {title}" if state is not None else f"similar to {title}"]
            * len(cold),
        )
        merged = Slate(
            np.r_[collaborative.rows, content_slate.rows],
            np.r_[collaborative.scores, content_slate.scores],
            collaborative.reasons + content_slate.reasons,
        )
        order = np.argsort(-merged.scores, kind="stable")
        slate = Slate(merged.rows[order], merged.scores[order], [merged.reasons[i] for i in order])
        return Recommendation(
            self._finish(slate, snapshot, request, {"diversity": 0}),
            model_version=state.version_id if state else None,
            fallback=state is None,
        )

    @staticmethod
    def _similar_to(state: ServingState, index: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The model's nearest items to item ``index``: through the saved vector index when the
        model has item vectors, else the model's own similarity (item-kNN, EASE rows)."""
        if state.similar_index is None:
            return state.model.similar_items([index], n=n)
        query = state.model.item_embeddings()[[index]]
        return state.similar_index.search(query, min(n, state.similar_index.n_items), [[index]])

    def _basket(self, request, state, snapshot) -> Recommendation:
        rows = snapshot.rows(request.item_ids)
        missing = [i for i, r in zip(request.item_ids, rows, strict=True) if r < 0]
        if missing:
            raise ItemNotFound(f"items not in the catalog: {missing}")
        settings = self.serving_settings(state and state.settings)
        allowed = self._allowed(request, snapshot, settings)
        allowed[rows] = False
        indices = []
        if state is not None:
            state.align(snapshot)
            indices = [int(i) for i in state.model_index[rows] if i >= 0]
        if not indices:
            slate = filter_slate(self._popular(snapshot), allowed)
            return Recommendation(
                self._finish(slate, snapshot, request, settings),
                model_version=state.version_id if state else None,
                fallback=True,
            )
        basket = sp.csr_matrix(
            (np.ones(len(indices), np.float32), ([0] * len(indices), indices)),
            shape=(1, len(state.items)),
        )
        ids, scores = state.model.recommend(
            [-1], basket, n=settings["candidate_count"], filter_seen=True
        )
        keep = ids[0] >= 0
        candidates, scores = ids[0][keep], scores[0][keep]
        recent = [(index, "basket") for index in indices]
        reasons = [
            reason.replace("because you liked", "often bought with")
            for reason in self._reasons(state, snapshot, candidates, recent)
        ]
        catalog_rows = state.catalog_rows[candidates]
        keep = catalog_rows >= 0
        slate = Slate(
            catalog_rows[keep], scores[keep], [r for r, k in zip(reasons, keep, strict=True) if k]
        )
        slate = filter_slate(slate, allowed)
        return Recommendation(
            self._finish(slate, snapshot, request, settings), model_version=state.version_id
        )

    def _trending(self, request, state, snapshot) -> Recommendation:
        window = request.filters["window"]
        label = TRENDING_WINDOWS[window][1]
        slate = self._popular(snapshot, window)
        slate = Slate(slate.rows, slate.scores, [f"trending {label}"] * len(slate))
        settings = self.serving_settings(state and state.settings)
        slate = filter_slate(slate, self._allowed(request, snapshot, settings))
        return Recommendation(self._finish(slate, snapshot, request, {"diversity": 0}))
