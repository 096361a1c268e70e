"""The products scenario: user -> items, item -> similar items, basket -> items, trending.

Training builds the matrix from the database, evaluates on a held-out split and saves the model
(numpy arrays) plus segment popularity for cold start (:mod:`scenarios.products.state`). Serving
runs the engine's pipeline: the candidates of a user are their precomputed list while it is fresh
(the engine's freshness stamps), else folded in from their current events, so a new event changes
the next answer without retraining.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.core.cache import cache
from django.db.models import Count, Max
from django.utils import timezone

from catalog.models import Interaction, User
from engine import freshness, lists
from engine.history import history_of
from engine.models import ModelVersion
from engine.pipeline import Slate, UnreadableArtifact, diversify, explore, states
from engine.scenario import (
    InvalidRequest,
    ItemNotFound,
    Kind,
    RecommendationRequest,
    Scenario,
    ServingContext,
    TrainingOutcome,
)
from engine.search import search_model
from engine.snapshot import ALL_ROWS, CatalogSnapshot, snapshots
from ml.base import topn_family_names
from ml.index import DEFAULT_EXACT_THRESHOLD
from scenarios.products.candidates import (
    SEEN_RULES,
    reasons_for,
    user_candidates,
    users_candidates,
)
from scenarios.products.dataset import (
    ProductsDataset,
    build_dataset,
    event_weights,
    user_segments,
)
from scenarios.products.state import ServingState, load_state, model_class, save_artifacts

MODEL_FAMILIES = topn_family_names()  # a family reading event times is fitted on dataset.times
# The families the model search tries unless search_families says otherwise: those that fit in
# seconds on the CPU (the TensorFlow ones and the ensemble can be named in search_families).
SEARCH_FAMILIES = ("als", "ease", "itemknn", "rp3beta", "seqknn")
TRENDING_WINDOWS = {"day": (1, "today"), "week": (7, "this week"), "month": (30, "this month")}
POPULAR_TTL_SECONDS = 60
SEGMENT_TOP = 500
HISTORY_LIMIT = 500  # newest events of a user that shape the answer
SCORE_PROGRESS_USERS = 500  # users scored between two progress reports

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "model": {
            "enum": MODEL_FAMILIES,
            "description": "model family (with model_search on: the search's first point)",
        },
        "search_families": {"type": "array", "items": {"enum": MODEL_FAMILIES}},
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
        "test_ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
        "active_user_days": {"type": "integer", "minimum": 1, "maximum": 3650},
        "exact_search_max_items": {
            "type": "integer",
            "minimum": 1,
            "description": "similar items: exact search up to this many items, faiss above",
        },
        "evaluation_max_users": {
            "type": "integer",
            "minimum": 100,
            "description": (
                "held-out users the evaluation and each model-search trial score, a fixed "
                "random sample above it: scoring every user against every item grows as "
                "users x items"
            ),
        },
    },
}

DEFAULT_SETTINGS: dict[str, Any] = {
    "model": "als",
    "candidate_count": 100,
    "diversity": 0.0,
    "exploration_rate": 0.0,
    "event_weights": {},
    "filter_seen": "any",
    "filters": {"blocked_categories": []},
    "test_ratio": 0.25,
    "active_user_days": 90,
    "exact_search_max_items": DEFAULT_EXACT_THRESHOLD,
    "evaluation_max_users": 10_000,
    "search_families": list(SEARCH_FAMILIES),
}


class ProductsScenario(Scenario):
    slug = "products"
    title = "Products"
    version = "1.0"
    kind = Kind.USER_ITEMS
    item_kinds = ("product",)
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
        return errors

    # ---- training -------------------------------------------------------------------------
    def build_dataset(self, settings: dict[str, Any]) -> ProductsDataset:
        return build_dataset(settings, self.item_kinds)

    def train(self, version: ModelVersion, artifact_dir: Path, progress) -> TrainingOutcome:
        """Search the families on the held-out split, fit the winner on the training split and
        score it there, then refit it on all data.

        The search scores on the held-out split itself, as Gorse's model searcher does: a
        validation split nested in the training split (a tenth of it) picked families by noise
        (bench-e2e's MovieLens store: rp3beta over ALS by 0.006). The version's metric is then
        the one it was chosen by; bench-e2e measures what is served on data the store never saw."""
        from ml.evaluation import evaluate
        from ml.splits import stratified_split_matrix

        started = time.monotonic()
        settings = self.effective_settings(version.settings)
        progress(0.05, "building the dataset from the database")
        data = self.build_dataset(settings)
        features = data.memberships if data.memberships.shape[1] else None
        train, test = stratified_split_matrix(data.matrix, ratio=1 - settings["test_ratio"])
        max_users = settings["evaluation_max_users"]

        def inputs(cls, part: sp.csr_matrix) -> sp.csr_matrix:
            # A family reading event times gets the same pairs with their latest event time.
            if cls.interaction_values == "times":
                return data.times.multiply(part.astype(bool)).tocsr()
            return part

        def fitted(name: str, params: dict[str, Any], part: sp.csr_matrix):
            cls = model_class(name)
            return cls(**params).fit(inputs(cls, part), user_features=features)

        def objective(name: str, params: dict[str, Any]) -> float:
            model = fitted(name, params, train)
            return evaluate(model, train, test, k=10, max_users=max_users)[self.primary_metric]

        searching = settings["model_search"] and test.nnz > 0
        name, params, record = search_model(
            self.slug,
            {**settings, "model_search": searching},
            {family: model_class(family).search_space() for family in MODEL_FAMILIES},
            objective,
            metric=self.primary_metric,
            progress=lambda share, message: progress(0.05 + 0.45 * share, message),
        )
        progress(0.5, f"fitting {name} on the training split")
        evaluated = fitted(name, params, train)
        metrics: dict[str, float] = {}
        if test.nnz:
            progress(0.6, "evaluating on the held-out split")
            metrics = {
                key: float(value)
                for key, value in evaluate(
                    evaluated, train, test, k=10, max_users=max_users
                ).items()
                if np.isscalar(value)
            }
        progress(0.7, f"fitting {name} on all data")
        model = fitted(name, params, data.matrix)
        model.history = evaluated.history
        progress(0.85, "saving artifacts")
        recall = save_artifacts(artifact_dir, model, data, settings)
        if recall is not None:
            metrics["similar_items_recall@10"] = recall
        return TrainingOutcome(
            metrics=metrics,
            history=model.history.to_dict(),
            data_snapshot=data.snapshot(),
            train_seconds=time.monotonic() - started,
            search=record,
            algorithm=name,
            hyperparameters=params,
        )

    def users_to_score(self, version: ModelVersion) -> list[str]:
        """Users with an event within ``active_user_days`` of the newest event."""
        settings = self.effective_settings(version.settings)
        newest = Interaction.objects.aggregate(newest=Max("timestamp"))["newest"]
        if newest is None:
            return []
        since = newest - timedelta(days=settings["active_user_days"])
        active = User.objects.filter(
            pk__in=Interaction.objects.filter(timestamp__gte=since).values("user_id")
        )
        return list(active.order_by("pk").values_list("external_id", flat=True))

    def score_users(self, version: ModelVersion, progress, user_ids) -> dict[str, Any]:
        """Candidate lists of ``user_ids`` from their latest events."""
        try:
            state, _ = states.get(self, version.pk)
        except UnreadableArtifact:
            return {}
        active = list(
            User.objects.filter(external_id__in=user_ids).values_list("pk", "external_id")
        )
        snapshot = snapshots.get(self.item_kinds)
        by_signal = freshness.freshness_by_signal()
        if by_signal:  # stamps first: an event committed while scoring then makes its list stale
            stamps = freshness.freshness_of([external_id for _, external_id in active])
        histories: dict[int, list] = {pk: [] for pk, _ in active}
        events = (
            Interaction.objects.filter(user_id__in=list(histories))
            .order_by("user_id", "-timestamp", "-pk")
            .values_list("user_id", "pk", "item_id", "event_type")
        )
        for user_pk, *event in events.iterator(chunk_size=20000):
            if len(histories[user_pk]) < HISTORY_LIMIT:
                histories[user_pk].append(tuple(event))
        batch = []
        for user_pk, external_id in active:
            history = histories[user_pk]
            if history:
                stamp = stamps[external_id] if by_signal else max(pk for pk, _, _ in history)
                batch.append((external_id, history, stamp))
        found: dict[str, Any] = {}
        for start in range(0, len(batch), SCORE_PROGRESS_USERS):
            part = batch[start : start + SCORE_PROGRESS_USERS]
            lists = users_candidates(state, snapshot, part)
            found.update(zip((user_id for user_id, _, _ in part), lists, strict=True))
            progress(len(found) / len(batch), f"scored {len(found)} of {len(batch)} users")
        return found

    # ---- serving: the engine pipeline's stages --------------------------------------------
    def load_state(self, version: ModelVersion) -> ServingState:
        return load_state(
            Path(version.artifact_path),
            version.algorithm,
            self.effective_settings(version.settings),
        )

    def resolve(self, request: RecommendationRequest, context: ServingContext) -> None:
        if request.mode not in ("", "similar", "basket", "trending"):
            raise InvalidRequest(f"products has no {request.mode!r} answers")
        if request.mode in ("similar", "basket"):
            rows = context.snapshot.rows(request.item_ids)
            missing = [i for i, r in zip(request.item_ids, rows, strict=True) if r < 0]
            if request.mode == "similar" and missing:
                raise ItemNotFound(f"item {missing[0]!r} is not in the catalog")
            if missing:
                raise ItemNotFound(f"items not in the catalog: {missing}")
            context.notes["request_rows"] = rows

    def memo_key(self, request: RecommendationRequest, context: ServingContext) -> tuple | None:
        """A plain request (user and n only, no exploration) has one right answer per user
        stamp, catalog build and settings: the engine keeps it, so a repeat costs the stamp
        read alone."""
        plain = (
            not request.mode
            and request.user_id
            and not (
                request.exclude
                or any(request.filters.values())
                or context.settings.get("exploration_rate")
            )
        )
        return (request.user_id, request.n) if plain and context.state is not None else None

    def memo_token(self, request: RecommendationRequest, context: ServingContext) -> tuple:
        """What a kept answer depends on besides the user: their events, the catalog, re-ranking."""
        stamp = context.notes.get("stamp")
        if stamp is None:
            stamp = context.notes["stamp"] = freshness.user_stamp(request.user_id)
        settings = context.settings
        return stamp, context.snapshot.build, settings.get("diversity"), str(settings["filters"])

    def valid_until(self, context: ServingContext, answers) -> float:
        """The first closing availability window of the answer's items, or the catalog's next
        opening one (the opening item may belong in it)."""
        snapshot = context.snapshot
        rows = snapshot.rows([item.item_id for item in answers])
        closes = float(snapshot.available_until[rows].min(initial=np.inf))
        return min(closes, snapshot.next_opening(time.time()))

    def candidates(self, request: RecommendationRequest, context: ServingContext) -> Slate:
        handler = {
            "": self._for_user,
            "similar": self._similar,
            "basket": self._basket,
            "trending": self._trending,
        }[request.mode]
        return handler(request, context)

    def allowed(self, request: RecommendationRequest, context: ServingContext, slate) -> np.ndarray:
        """Business rules and the request's filters over the candidates' catalog rows."""
        mask = context.notes.get("allowed")  # the whole catalog's, where a stage needed it
        if mask is not None:
            return mask[slate.rows]
        return self._allowed(request, context, slate.rows)

    def rerank(self, request: RecommendationRequest, context: ServingContext, slate) -> Slate:
        """Diversity (for users and baskets), then exploration (for users with a history)."""
        snapshot, settings = context.snapshot, context.settings
        strength = float(settings.get("diversity", 0)) if request.mode in ("", "basket") else 0.0
        slate = diversify(
            slate, lambda rows: snapshot.category_closeness(rows, rows), strength, request.n
        )
        pool = context.notes.get("exploration_pool")
        if pool is not None and len(pool):  # a fresh generator costs an OS read
            rate = float(settings["exploration_rate"])
            slate = explore(
                slate, pool, rate, np.random.default_rng(), "new in a category you like"
            )
        return slate

    # ---- the filter mask --------------------------------------------------------------------
    def _allowed(self, request, context: ServingContext, rows=ALL_ROWS) -> np.ndarray:
        """Request-time filters and business rules as one mask over ``rows`` of the catalog
        (a cached list's few candidates cost far less than the whole catalog)."""
        snapshot, settings = context.snapshot, context.settings
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
        excluded = snapshot.rows(request.exclude) if request.exclude else []
        if "request_rows" in context.notes:  # never answer an item with itself, or its basket
            excluded = np.r_[excluded, context.notes["request_rows"]]
        if len(excluded):
            allowed &= ~np.isin(np.arange(len(snapshot.ids))[rows], excluded)
        return allowed

    def _catalog_mask(self, request, context: ServingContext) -> np.ndarray:
        """The mask over the whole catalog, kept for the filter stage."""
        context.notes["allowed"] = mask = self._allowed(request, context)
        return mask

    # ---- candidates per endpoint ------------------------------------------------------------
    def _popular(self, snapshot: CatalogSnapshot, window: str = "") -> Slate:
        """Most interacted items (positive types), all time or in a trending window; cached briefly."""
        key = f"products:popular:{window or 'all'}"
        ranked = cache.get(key)
        if ranked is None:
            events = Interaction.objects.filter(item__kind__in=self.item_kinds)
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
        pairs = [
            (row, count)
            for row, count in ((snapshot.row_of_pk.get(pk, -1), count) for pk, count in ranked)
            if row >= 0
        ]
        top = max((c for _, c in pairs), default=1)
        return Slate(
            [r for r, _ in pairs], [c / top for _, c in pairs], ["popular right now"] * len(pairs)
        )

    def _for_user(self, request, context: ServingContext) -> Slate:
        state, snapshot = context.state, context.snapshot
        if state is None:
            context.fallback = True
            return self._popular(snapshot)
        entry = self._fresh_candidates(request.user_id, context)
        if entry is None:
            return self._cold_start(request, context)
        state.align(snapshot)
        items = entry["items"]
        rows = snapshot.rows([item[0] for item in items])
        known = rows >= 0
        if context.settings.get("exploration_rate", 0) > 0:
            context.notes["exploration_pool"] = self._exploration_pool(
                state, snapshot, entry["categories"], self._catalog_mask(request, context)
            )
        return Slate(
            rows[known],
            np.array([item[1] for item in items], dtype=np.float32)[known],
            [item[2] for item, ok in zip(items, known, strict=True) if ok],
        )

    def _fresh_candidates(self, user_id: str | None, context: ServingContext) -> dict | None:
        """The user's cached candidate list if still fresh, else one computed now and cached;
        None for a user without events (cold start). Leaves the user's stamp in the notes."""
        if not user_id:
            return None
        version_id, stamp = context.version_id, context.notes.get("stamp")
        if stamp is not None:
            entry = lists.load_list(self.slug, version_id, user_id)
        elif freshness.freshness_by_signal():
            entry, stamp = freshness.load_list_and_freshness(self.slug, version_id, user_id)
        else:
            stamp = freshness.user_stamp(user_id)
            if stamp is None:
                return None
            entry = lists.load_list(self.slug, version_id, user_id)
        context.notes["stamp"] = stamp
        if entry is not None and entry.get("stamp") == stamp:
            return entry
        history = history_of(user_id, HISTORY_LIMIT)
        if not history:
            return None
        entry = user_candidates(context.state, context.snapshot, user_id, history, stamp)
        ttl = context.settings["list_ttl_seconds"] or None
        lists.store_list(self.slug, version_id, user_id, entry, ttl)
        return entry

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

    def _cold_start(self, request, context: ServingContext) -> Slate:
        """Unknown user or no events yet: popularity in the user's segments, else overall."""
        state = context.state
        state.align(context.snapshot)
        context.cold_start = True
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
        return Slate(rows[keep], scores[order][keep], [reason] * int(keep.sum()))

    def _similar(self, request, context: ServingContext) -> Slate:
        """Collaborative neighbours of the item, with new items joined on content (title words,
        category and tags)."""
        state, snapshot = context.state, context.snapshot
        row = int(context.notes["request_rows"][0])
        allowed = self._catalog_mask(request, context)
        title = snapshot.titles[row] or request.item_ids[0]
        content = snapshot.content_similarity(row)
        collaborative = Slate([], [])
        context.fallback = state is None
        related = state is not None and state.has_similarity
        if related:
            state.align(snapshot)
            index = int(state.model_index[row])
            if index >= 0:
                ids, scores = state.similar_to(index, context.settings["candidate_count"])
                found = (ids[0] >= 0) & (scores[0] > 0)
                rows, scores = state.catalog_rows[ids[0][found]], scores[0][found]
                keep = rows >= 0
                collaborative = Slate(
                    rows[keep],
                    scores[keep],
                    [f"shoppers who liked {title} also liked this"] * int(keep.sum()),
                )
        collaborative = collaborative.keep(allowed[collaborative.rows])
        is_new = state.model_index < 0 if related else np.ones(len(snapshot.ids), bool)
        cold = np.flatnonzero(allowed & is_new & (content > 0))
        cold = cold[np.argsort(-content[cold], kind="stable")][: request.n]
        top = float(collaborative.scores.max()) if len(collaborative) else 1.0
        label = f"new, similar to {title}" if related else f"similar to {title}"
        merged = Slate(
            np.r_[collaborative.rows, cold],
            np.r_[collaborative.scores, content[cold] * max(top, 1e-6)],
            collaborative.reasons + [label] * len(cold),
        )
        order = np.argsort(-merged.scores, kind="stable")
        return Slate(merged.rows[order], merged.scores[order], [merged.reasons[i] for i in order])

    def _basket(self, request, context: ServingContext) -> Slate:
        """Items the model ranks highest for a user holding exactly the basket."""
        state, snapshot = context.state, context.snapshot
        indices = []
        if state is not None:
            state.align(snapshot)
            indices = [int(i) for i in state.model_index[context.notes["request_rows"]] if i >= 0]
        if not indices:
            context.fallback = True
            return self._popular(snapshot)
        basket = sp.csr_matrix(
            (np.ones(len(indices), np.float32), ([0] * len(indices), indices)),
            shape=(1, len(state.items)),
        )
        ids, scores = state.model.recommend(
            [-1], basket, n=context.settings["candidate_count"], filter_seen=True
        )
        keep = ids[0] >= 0
        candidates, scores = ids[0][keep], scores[0][keep]
        recent = [(index, "basket") for index in indices]
        reasons = [
            reason.replace("because you liked", "often bought with")
            for reason in reasons_for(state, snapshot, candidates, recent)
        ]
        rows = state.catalog_rows[candidates]
        keep = rows >= 0
        return Slate(rows[keep], scores[keep], [r for r, k in zip(reasons, keep, strict=True) if k])

    def _trending(self, request, context: ServingContext) -> Slate:
        window = request.filters["window"]
        label = TRENDING_WINDOWS[window][1]
        slate = self._popular(context.snapshot, window)
        context.model_version = None
        return Slate(slate.rows, slate.scores, [f"trending {label}"] * len(slate))
