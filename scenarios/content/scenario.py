"""The content scenario: user -> a feed of articles, product (or article) -> related articles.

Training reads article texts and reads from the database (:mod:`scenarios.content.dataset`),
fits the text encoder and item-kNN co-reads on the reads before a time cut, tunes the text and
freshness weights on the slice before it, measures the feed on the reads after it, and saves
numpy arrays (:mod:`scenarios.content.state`). Serving ranks every article of the catalog
snapshot from the reader's reads at request time, so a read changes the next feed, and a new
article (no reads yet) competes from its text alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from catalog.models import Interaction, User
from engine.models import ModelVersion
from engine.pipeline import Slate, diversify
from engine.scenario import (
    InvalidRequest,
    Kind,
    RecommendationRequest,
    Scenario,
    ServingContext,
    TrainingOutcome,
)
from engine.snapshot import snapshots
from ml.models.article_text import (
    DAY,
    ENCODERS,
    ReadLog,
    freshness,
    make_encoder,
    train_hybrid,
)
from scenarios.content.articles import ARTICLE, PHRASES, indexes
from scenarios.content.dataset import build_dataset, read_weight
from scenarios.content.models import FeedExposure
from scenarios.content.state import load_state, save_state

HISTORY_LIMIT = 300  # newest article events of a reader that shape the feed
USER_PK = "content_user_pk"  # request.context key: the reader's pk, for record_exposure

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "model": {"enum": ["hybrid"], "description": "model family"},
        "text_encoder": {
            "enum": list(ENCODERS),
            "description": "tf: TensorFlow encoder trained on the texts and reads; "
            "tfidf_svd: TF-IDF + SVD of the texts",
        },
        "half_life_days": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 3650,
            "description": "freshness: an article this many days old counts half a new one",
        },
        "read_events": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 100},
            "description": "event types that count as reading an article, with their weights",
        },
        "min_dwell_seconds": {"type": "number", "minimum": 0, "maximum": 3600},
        "dwell_reference_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        "neighbours": {"type": "integer", "minimum": 1, "maximum": 1000},
        "candidate_count": {"type": "integer", "minimum": 10, "maximum": 1000},
        "diversity": {"type": "number", "minimum": 0, "maximum": 1},
        "test_ratio": {"type": "number", "minimum": 0.05, "maximum": 0.4},
    },
}
DEFAULT_SETTINGS: dict[str, Any] = {
    "model": "hybrid",
    "text_encoder": "tf",
    "half_life_days": 7.0,
    "read_events": {"read": 1.0, "like": 2.0, "share": 2.0, "view": 0.5},
    "min_dwell_seconds": 5.0,
    "dwell_reference_seconds": 60.0,
    "neighbours": 100,
    "candidate_count": 200,
    "diversity": 0.1,
    "test_ratio": 0.2,
}


def _age(seconds: float) -> str:
    days = seconds / DAY
    if days < 1:
        return "today"
    if days < 2:
        return "yesterday"
    return f"{int(days)} days ago"


class ContentScenario(Scenario):
    slug = "content"
    title = "Content"
    version = "1.0"
    kind = Kind.USER_ITEMS
    item_kinds = (ARTICLE,)
    primary_metric = "ndcg@10"
    click_events = ("click", "read")
    outcome_events = ("like", "share")
    settings_schema = SETTINGS_SCHEMA
    default_settings = DEFAULT_SETTINGS
    request_time_settings = frozenset({"half_life_days", "diversity"})

    # ---- settings -------------------------------------------------------------------------
    def validate_settings(self, settings: dict[str, Any]) -> list[str]:
        errors = super().validate_settings(settings)
        if errors:
            return errors
        try:
            make_encoder(settings["text_encoder"], settings.get("hyperparameters", {}))
        except (ValueError, TypeError) as error:
            errors.append(f"hyperparameters: {error}")
        return errors

    # ---- training -------------------------------------------------------------------------
    def build_dataset(self, settings: dict[str, Any]):
        return build_dataset(settings)

    def train(self, version: ModelVersion, artifact_dir: Path, progress) -> TrainingOutcome:
        from ml.models.itemknn import ItemKNN

        started = time.monotonic()
        settings = self.effective_settings(version.settings)
        progress(0.05, "reading articles and reads")
        data = self.build_dataset(settings)
        log = ReadLog(
            data.texts, data.published, data.users, data.items, data.weights, data.times,
            data.n_users,
        )  # fmt: skip
        progress(0.1, f"fitting, tuning and measuring the {settings['text_encoder']} hybrid")
        run = train_hybrid(
            log,
            settings["test_ratio"],
            settings["text_encoder"],
            settings.get("hyperparameters", {}),
            settings["neighbours"],
            settings["half_life_days"],
        )
        text_weight, fresh_weight = run.weights
        metrics = {**run.metrics, "text_weight": text_weight, "freshness_weight": fresh_weight}
        neighbours = settings["neighbours"]
        progress(0.85, "co-reads and popularity on every read; saving")
        reads = log.matrix()
        co_reads = ItemKNN(similarity="cosine", neighbours=neighbours).fit(reads)
        counts = np.asarray((reads > 0).sum(axis=0), np.float32).ravel()
        save_state(
            artifact_dir,
            run.encoder,
            co_reads,
            data.ids,
            run.ranker.vectors,
            counts / max(float(counts.max()), 1.0),
            {"text_weight": text_weight, "freshness_weight": fresh_weight},
        )
        return TrainingOutcome(
            metrics={key: float(value) for key, value in metrics.items()},
            history=run.history,
            data_snapshot=data.snapshot(),
            train_seconds=time.monotonic() - started,
        )

    # ---- serving --------------------------------------------------------------------------
    def load_state(self, version: ModelVersion):
        return load_state(Path(version.artifact_path))

    def resolve(self, request: RecommendationRequest, context: ServingContext) -> None:
        if request.mode not in ("", "related"):
            raise InvalidRequest(f"content has no {request.mode!r} answers")
        if request.mode == "related":
            item_id = request.item_ids[0]
            row = int(context.snapshot.rows([item_id])[0])
            if row >= 0:
                context.notes["article_row"] = row
                return
            products = snapshots.get(("product",))
            product = int(products.rows([item_id])[0])
            if product < 0:
                raise InvalidRequest(f"item_id: no product or article {item_id!r} in the catalog")
            context.notes["product"] = (products, product)

    def candidates(self, request: RecommendationRequest, context: ServingContext) -> Slate:
        index = indexes.get(context.snapshot)
        context.notes["index"] = index
        if request.mode == "related":
            return self._related(request, context, index)
        return self._feed(request, context, index)

    def allowed(self, request: RecommendationRequest, context: ServingContext, slate):
        snapshot, index = context.snapshot, context.notes["index"]
        rows = slate.rows
        mask = snapshot.recommendable(rows) & index.has_text[rows]
        mask &= index.published[rows] <= time.time()
        if request.filters.get("category"):  # the generic endpoint's topic filter
            mask &= snapshot.category_mask(request.filters["category"], rows)
        excluded = set(snapshot.rows(request.exclude).tolist()) if request.exclude else set()
        excluded |= context.notes.get("read_rows", set())
        if "article_row" in context.notes:
            excluded.add(context.notes["article_row"])
        if excluded:
            mask &= ~np.isin(rows, list(excluded))
        return mask

    def rerank(self, request: RecommendationRequest, context: ServingContext, slate) -> Slate:
        vectors = context.notes.get("vectors")
        strength = float(context.settings.get("diversity", 0)) if request.mode == "" else 0.0
        if vectors is None:
            return slate.head(request.n)
        return diversify(
            slate,
            lambda rows: np.clip(vectors[rows] @ vectors[rows].T, 0.0, 1.0),
            strength,
            request.n,
        )

    def record_exposure(self, request, answer, recommendation_id: str) -> None:
        user_pk = request.context.get(USER_PK)
        if user_pk is not None and not request.mode and answer.items:
            FeedExposure.objects.create(
                user_id=user_pk,
                recommendation_id=recommendation_id,
                item_ids=[item.item_id for item in answer.items],
            )

    # ---- the feed ---------------------------------------------------------------------------
    def _reads(self, request, context: ServingContext) -> tuple[list[int], list[float]]:
        """The reader's article rows and read weights (newest first); every article they
        opened at all is left out of their feed."""
        user_pk = (
            User.objects.filter(external_id=request.user_id).values_list("pk", flat=True).first()
        )
        if user_pk is None:
            return [], []
        request.context[USER_PK] = user_pk
        events = (
            Interaction.objects.filter(user_id=user_pk, item__kind=ARTICLE)
            .order_by("-timestamp")
            .values_list("item_id", "event_type", "value")[:HISTORY_LIMIT]
        )
        row_of_pk, settings = context.snapshot.row_of_pk, context.settings
        rows, weights, opened = [], [], set()
        for item_pk, event_type, value in events:
            row = row_of_pk.get(item_pk, -1)
            if row < 0:
                continue
            opened.add(row)
            weight = read_weight(event_type, value, settings)
            if weight > 0:
                rows.append(row)
                weights.append(weight)
        context.notes["read_rows"] = opened
        return rows, weights

    def _feed(self, request, context: ServingContext, index) -> Slate:
        snapshot, settings = context.snapshot, context.settings
        now = time.time()
        rows, weights = self._reads(request, context)
        half_life = float(settings["half_life_days"])
        fresh = freshness(index.published, now, half_life)
        if context.state is None:  # untrained: newest first
            context.fallback = True
            return self._ranked(
                fresh, [self._fresh_reason(index, r, now) for r in range(len(fresh))]
            )
        ranker, _ = context.state.ranker(snapshot, index, half_life)
        context.notes["vectors"] = ranker.vectors
        reads = sp.csr_matrix(
            (np.asarray(weights, np.float32), (np.zeros(len(rows), np.int64), rows)),
            shape=(1, len(snapshot.ids)),
        )
        parts = ranker.parts(reads)
        scores = ranker.scores(reads, now, parts=parts)[0]
        if not rows:
            context.cold_start = True
            order = np.argsort(-scores, kind="stable")[: settings["candidate_count"]]
            reasons = [
                self._fresh_reason(index, r, now)
                if ranker.freshness_weight * fresh[r]
                >= (1 - ranker.freshness_weight) * ranker.popularity[r]
                else "popular with readers"
                for r in order.tolist()
            ]
            return Slate(order, scores[order], reasons)
        order = self._top(scores, context.notes["read_rows"], settings["candidate_count"])
        text, co = parts
        reasons = self._feed_reasons(
            ranker, snapshot, index, rows, order, text[0], co[0], fresh, now
        )
        return Slate(order, scores[order], reasons)

    @staticmethod
    def _top(scores: np.ndarray, skip: set[int], count: int) -> np.ndarray:
        scores = scores.copy()
        if skip:
            scores[list(skip)] = -np.inf
        order = np.argsort(-scores, kind="stable")[:count]
        return order[np.isfinite(scores[order])]

    @staticmethod
    def _ranked(scores: np.ndarray, reasons: list[str]) -> Slate:
        order = np.argsort(-scores, kind="stable")
        return Slate(order, scores[order], [reasons[r] for r in order.tolist()])

    @staticmethod
    def _fresh_reason(index, row: int, now: float) -> str:
        return f"new, published {_age(now - index.published[row])}"

    def _feed_reasons(self, ranker, snapshot, index, rows, order, text, co, fresh, now) -> list:
        """Per candidate, the part that weighs most: the read article it is most like (text),
        the read article its readers also read (co-reads), or that it is new."""
        history = np.asarray(rows[:50], np.int64)
        alike = ranker.vectors[history] @ ranker.vectors[order].T  # [history, candidates]
        co_from = ranker.co_reads[history][:, order].toarray()
        a, f = ranker.text_weight, ranker.freshness_weight
        reasons = []
        for column, row in enumerate(order.tolist()):
            parts = {
                "text": (1 - f) * a * text[row],
                "co": (1 - f) * (1 - a) * co[row],
                "fresh": f * fresh[row],
            }
            best = max(parts, key=parts.get)
            if best == "co" and co_from[:, column].max() > 0:
                source = history[int(co_from[:, column].argmax())]
                reasons.append(f"readers of “{snapshot.titles[source]}” also read this")
            elif best == "fresh" or parts["text"] <= 0:
                reasons.append(self._fresh_reason(index, row, now))
            else:
                source = history[int(alike[:, column].argmax())]
                reasons.append(f"because you read “{snapshot.titles[source]}”")
        return reasons

    # ---- related articles -------------------------------------------------------------------
    def _related(self, request, context: ServingContext, index) -> Slate:
        snapshot, state = context.snapshot, context.state
        context.fallback = state is None
        ranker = None
        if state is not None:
            ranker, _ = state.ranker(snapshot, index, float(context.settings["half_life_days"]))
            context.notes["vectors"] = ranker.vectors
        if "article_row" in context.notes:
            return self._more_like(context.notes["article_row"], snapshot, ranker)
        products, product = context.notes["product"]
        product_id, title = (
            str(products.ids[product]),
            products.titles[product] or request.item_ids[0],
        )
        linked = index.by_product.get(product_id, [])
        n = len(snapshot.ids)
        if ranker is not None:
            topic = products.categories[product].replace("/", " ")
            query = state.encoder.encode([f"{title}\n{topic}"])[0]
            about = np.clip(ranker.vectors @ query, 0.0, 1.0)
        else:  # untrained: articles on the product's topic path
            category = products.categories[product]
            about = np.array(
                [
                    0.5 if c and (category == c or category.startswith(c + "/")) else 0.0
                    for c in snapshot.categories.tolist()
                ]
            )
        scores = about.astype(np.float32)
        reasons = [f"on the topic of {title}"] * n
        for row in linked:
            scores[row] += 1.0
            reasons[row] = f"{PHRASES[index.formats[row]]} {title}"
        keep = np.flatnonzero(scores > 0)
        order = keep[np.argsort(-scores[keep], kind="stable")]
        return Slate(order, scores[order], [reasons[r] for r in order.tolist()])

    @staticmethod
    def _more_like(row: int, snapshot, ranker) -> Slate:
        title = snapshot.titles[row]
        if ranker is None:
            scores = snapshot.content_similarity(row).astype(np.float32)
            label = [f"more like “{title}”"] * len(scores)
        else:
            text = np.clip(ranker.vectors @ ranker.vectors[row], 0.0, 1.0)
            co = ranker.co_reads[row].toarray().ravel()
            co = co / max(float(co.max()), 1e-12)
            scores = (ranker.text_weight * text + (1 - ranker.text_weight) * co).astype(np.float32)
            label = [
                f"readers of “{title}” also read this"
                if (1 - ranker.text_weight) * c > ranker.text_weight * t
                else f"more like “{title}”"
                for t, c in zip(text.tolist(), co.tolist(), strict=True)
            ]
        scores[row] = 0.0
        keep = np.flatnonzero(scores > 0)
        order = keep[np.argsort(-scores[keep], kind="stable")]
        return Slate(order, scores[order], [label[r] for r in order.tolist()])
