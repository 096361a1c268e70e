"""The Scenario contract every plugin implements, and the request / answer types they share.

One contract covers the seven shapes the business needs (see :class:`Kind`): what differs is the
input (a user, an item, a basket, a slot, a query) and what each answer holds (an item, an ad won
in an auction, an offer, a FAQ entry, a person). Model versions, promotion, experiments,
attribution, impressions and caching are the engine's; a scenario supplies its settings, its
training and the stages of the serving pipeline (:mod:`engine.pipeline` runs them).

This module is the engine's bottom floor: it imports nothing else of the engine but the schema
helpers, so every other engine module (and every scenario) can import it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from engine.queues import SCORING, TRAINING
from engine.schema import schema_errors, validate_cron

if TYPE_CHECKING:
    import numpy as np

    from engine.models import ModelVersion

Progress = Callable[[float, str], None]


class ItemNotFound(LookupError):
    """A request names an item (or ad slot, user...) that does not exist (the API answers 404)."""


class InvalidRequest(ValueError):
    """A request the client must fix (the API answers 400 with this message)."""


class Kind(enum.StrEnum):
    """What a scenario maps from and to: decides which request fields it reads and which answer
    type its items are (:data:`ANSWER_TYPES`)."""

    USER_ITEMS = "user_items"  # products, content feed: user -> ranked items
    ITEM_ITEMS = "item_items"  # similar products, related guides: item -> items
    BASKET_ITEMS = "basket_items"  # frequently bought together: items in a basket -> items
    SLOT_ADS = "slot_ads"  # user + slot -> ads won in an auction under campaign budgets
    USER_OFFERS = "user_offers"  # coupons: user -> offers allocated under a budget
    QUERY_ANSWERS = "query_answers"  # FAQ: query text -> answers plus a handoff decision
    USER_USERS = "user_users"  # social: user -> people to follow


@dataclass
class RecommendationRequest:
    """One serving call. Each kind reads its own fields (the API's per-kind query serializers in
    :mod:`engine.kinds` fill them): user_id and n always, item_ids for item and basket kinds,
    slot and context for ads, query and context["language"] for answers."""

    user_id: str | None = None
    n: int = 10
    item_ids: list[str] = field(default_factory=list)  # the item (ITEM_ITEMS) or the basket
    exclude: list[str] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)  # category, min_price, max_price, ...
    query: str = ""  # QUERY_ANSWERS
    slot: str = ""  # SLOT_ADS
    context: dict[str, Any] = field(default_factory=dict)  # device, hour, page item, language...
    user_attributes: dict[str, Any] = field(default_factory=dict)  # for unknown users
    mode: str = ""  # a scenario's sub-endpoint: "similar", "basket", "trending", ...


class Answer:
    """One entry of an answer, as its kind shows it; subclasses are dataclasses whose fields are
    the response fields, in order. Floats are rounded to 6 places in the response."""

    def body(self) -> dict[str, Any]:
        return {
            f.name: round(float(value), 6) if isinstance(value, float) else value
            for f in fields(self)  # type: ignore[arg-type]
            for value in [getattr(self, f.name)]
        }


@dataclass
class RecommendedItem(Answer):
    """user -> items, item -> items, basket -> items."""

    item_id: str
    score: float
    reason: str

    def body(self) -> dict[str, Any]:  # the hot path of every products answer: no fields() walk
        return {
            "item_id": self.item_id,
            "score": round(float(self.score), 6),
            "reason": self.reason,
        }


@dataclass
class AdPlacement(Answer):
    """An ad that won a slot position: its predicted CTR and the price a click costs."""

    ad_id: str
    campaign_id: str
    item_id: str
    pctr: float
    price: float


@dataclass
class OfferAnswer(Answer):
    """A coupon offer chosen for the user, with the conversions it is expected to add."""

    offer_id: str
    expected_uplift: float
    reason: str


@dataclass
class QueryAnswer(Answer):
    """A FAQ entry answering the query; ``handoff`` when a person should answer instead."""

    entry_id: str
    question: str
    answer: str
    score: float
    handoff: bool


@dataclass
class UserSuggestion(Answer):
    """A person the user may want to follow, and why."""

    user_id: str
    score: float
    reason: str


ANSWER_TYPES: dict[Kind, type[Answer]] = {
    Kind.USER_ITEMS: RecommendedItem,
    Kind.ITEM_ITEMS: RecommendedItem,
    Kind.BASKET_ITEMS: RecommendedItem,
    Kind.SLOT_ADS: AdPlacement,
    Kind.USER_OFFERS: OfferAnswer,
    Kind.QUERY_ANSWERS: QueryAnswer,
    Kind.USER_USERS: UserSuggestion,
}


@dataclass
class Recommendation:
    """A scenario's answer before the engine stamps the recommendation id on it."""

    items: list[Answer]
    model_version: int | None = None
    cold_start: bool = False
    fallback: bool = False  # True when no trained version served it (popularity instead)
    extra: dict[str, Any] = field(default_factory=dict)  # handoff, holdout: top-level fields
    # The items' bodies when kept from an earlier identical answer (read only).
    item_bodies: list[dict[str, Any]] | None = None


@dataclass
class ServingContext:
    """What the pipeline's stages share for one request: set up by the engine, annotated by the
    stages (``cold_start``, ``fallback``, ``notes``)."""

    version_id: int | None  # the version serving it: None when untrained or not loadable
    state: Any  # the scenario's loaded serving artifact (``load_state``), None without one
    settings: dict[str, Any]  # the version's settings with request-time settings on top
    snapshot: Any = None  # engine.snapshot.CatalogSnapshot of the item kinds served, if any
    model_version: int | None = None  # what the answer reports (a stage may say None)
    cold_start: bool = False
    fallback: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # top-level fields of the answer
    notes: dict[str, Any] = field(default_factory=dict)  # scratch between stages

    def __post_init__(self):
        self.model_version = self.version_id


@dataclass
class TrainingOutcome:
    """What ``Scenario.train`` hands back for the engine to record on the ModelVersion."""

    metrics: dict[str, float]
    history: dict[str, list[float]]
    data_snapshot: dict[str, Any]
    train_seconds: float = 0.0
    # When the training ran a model search (engine.search): its record, and the winner it refit.
    search: dict[str, Any] | None = None
    algorithm: str = ""
    hyperparameters: dict[str, Any] | None = None


# The settings the engine itself reads, which every scenario inherits (and may narrow, e.g. an
# enum of its model families, by naming the key in its own schema).
BASE_SETTINGS_SCHEMA: dict[str, Any] = {
    "model": {"type": "string", "description": "model family"},
    "hyperparameters": {"type": "object", "description": "keyword arguments of the model"},
    "auto_promote": {
        "type": "boolean",
        "description": "promote a trained version that passes the promotion rule",
    },
    "promotion_tolerance": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "promote when the primary metric is at least the served one minus this",
    },
    "list_ttl_seconds": {
        "type": "integer",
        "minimum": 0,
        "description": "how long a precomputed list is kept (0: until replaced)",
    },
    "retrain_schedule": {
        "type": "string",
        "description": "crontab (minute hour day month weekday) of automatic retraining",
    },
    "model_search": {
        "type": "boolean",
        "description": "each training searches the model families and hyperparameters on a "
        "validation split, starting from the served winner (scenarios that declare families)",
    },
    "search_budget_seconds": {
        "type": "number",
        "minimum": 0,
        "maximum": 86400,
        "description": "time the model search may spend (defaults and start points always run)",
    },
    "search_max_trials": {
        "type": "integer",
        "minimum": 1,
        "maximum": 10000,
        "description": "most points the model search tries (it also stops after 20 random "
        "points in a row bring no gain)",
    },
    "search_families": {
        "type": "array",
        "items": {"type": "string"},
        "description": "families the search tries (empty: every family the scenario offers)",
    },
    "scoring_shard_users": {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000000,
        "description": "users per scoring task when lists are precomputed: the shards run on "
        "every worker of the scenario's scoring queue at once",
    },
}
BASE_DEFAULT_SETTINGS: dict[str, Any] = {
    "model": "",
    "hyperparameters": {},
    "auto_promote": True,
    "promotion_tolerance": 0.01,
    "list_ttl_seconds": 86400,
    "retrain_schedule": "",
    "model_search": True,
    "search_budget_seconds": 120,
    "search_max_trials": 60,
    "search_families": [],
    "scoring_shard_users": 5000,
}


def with_base_settings(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (a JSON Schema object) with the engine's settings added where it names none."""
    properties = {**BASE_SETTINGS_SCHEMA, **schema.get("properties", {})}
    return {**schema, "type": "object", "properties": properties}


class Scenario:
    """Base class of every scenario plugin; one instance per process, registered by its app.

    A subclass sets ``slug``, ``title``, ``kind`` and its own ``settings_schema`` and
    ``default_settings`` (the engine's :data:`BASE_SETTINGS_SCHEMA` keys are merged into both
    when the class is defined), implements :meth:`train` (unless :meth:`is_trainable` is False)
    and the serving stages :meth:`candidates` and :meth:`explain`, overriding other stages where
    the defaults do not fit. See docs/writing-a-scenario.md.
    """

    slug: ClassVar[str] = ""
    title: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    kind: ClassVar[Kind] = Kind.USER_ITEMS
    primary_metric: ClassVar[str] = "ndcg@10"
    settings_schema: ClassVar[dict[str, Any]] = with_base_settings({"type": "object"})
    default_settings: ClassVar[dict[str, Any]] = dict(BASE_DEFAULT_SETTINGS)
    # Settings applied per request (re-ranking, filters): a change serves within seconds,
    # without retraining; every other setting applies from the next trained version.
    request_time_settings: ClassVar[frozenset[str]] = frozenset()
    # Catalog item kinds (``catalog.Item.kind``) this scenario answers with; () for none.
    item_kinds: ClassVar[tuple[str, ...]] = ()
    # Feedback: the exposure counted per answer, and the event types that count as a click
    # and as the outcome it exists for, read by attribution and experiments.
    exposure_event: ClassVar[str] = "impression"
    click_events: ClassVar[tuple[str, ...]] = ("click",)
    outcome_events: ClassVar[tuple[str, ...]] = ("purchase",)
    # Celery queues of this scenario's training and scoring runs: name a new one to give the
    # scenario workers of its own (a worker started without -Q consumes every declared queue).
    training_queue: ClassVar[str] = TRAINING
    scoring_queue: ClassVar[str] = SCORING

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "settings_schema" in cls.__dict__:
            cls.settings_schema = with_base_settings(cls.__dict__["settings_schema"])
        if "default_settings" in cls.__dict__:
            cls.default_settings = {**BASE_DEFAULT_SETTINGS, **cls.__dict__["default_settings"]}

    # ---- settings -------------------------------------------------------------------------
    def validate_settings(self, settings: dict[str, Any]) -> list[str]:
        """Messages for every problem in ``settings`` (empty when valid).

        The base checks the JSON Schema and the retrain schedule; subclasses add checks a schema
        cannot express (a hyperparameter the chosen model does not know) by extending the list.
        """
        errors = schema_errors(self.settings_schema, settings)
        schedule = settings.get("retrain_schedule", "") if isinstance(settings, dict) else ""
        if not errors and isinstance(schedule, str) and schedule.strip():
            problem = validate_cron(schedule)
            if problem:
                errors.append(problem)
        return errors

    def effective_settings(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with what the operator saved."""
        return {**self.default_settings, **(stored or {})}

    def is_trainable(self) -> bool:
        """False for scenarios that serve rules only (no model versions)."""
        return True

    # ---- training and scoring (run by Celery workers) -------------------------------------
    def build_dataset(self, settings: dict[str, Any]) -> Any:
        """Read what ``train`` fits on from the database (raise ValueError when there is too
        little to train on: the version fails with that message)."""
        raise NotImplementedError(f"{self.slug}: build_dataset() is not implemented")

    def train(
        self, version: ModelVersion, artifact_dir: Path, progress: Progress
    ) -> TrainingOutcome:
        """Build the dataset from the database, fit, evaluate on a held-out split, save artifacts.

        ``progress(fraction, message)`` reports how far along it is; raising fails the version.
        """
        raise NotImplementedError(f"{self.slug}: train() is not implemented")

    def users_to_score(self, version: ModelVersion) -> list[str]:
        """Ids of the users whose lists the scoring queue precomputes for ``version`` (its active
        users); [] when a scenario precomputes none. The engine splits them into shards of
        ``scoring_shard_users`` and scores each shard in a task of its own."""
        return []

    def score_users(
        self, version: ModelVersion, progress: Progress, user_ids: list[str]
    ) -> dict[str, Any]:
        """Precomputed lists of ``user_ids`` (a shard of :meth:`users_to_score`, or users whose
        events just changed) keyed by user id; users with nothing to list are left out."""
        return {}

    # ---- serving: the stages engine.pipeline runs, in order -------------------------------
    def load_state(self, version: ModelVersion) -> Any:
        """Load what serving ``version`` needs (its artifacts) once per process; the engine
        keeps the result. Raise FileNotFoundError, ValueError or KeyError when it cannot be
        read: the request is then served as untrained (fallback)."""
        return None

    def warm_up(self, version_id: int) -> None:
        """Extra work before the first request; the engine has loaded the state and snapshot."""

    def resolve(self, request: RecommendationRequest, context: ServingContext) -> None:
        """Check what the request names exists (raise ItemNotFound / InvalidRequest)."""

    def memo_key(self, request: RecommendationRequest, context: ServingContext) -> tuple | None:
        """A key under which the engine may keep this request's final answer in the process
        (cheap to compute); None (the default) when it must always be computed."""
        return None

    def memo_token(self, request: RecommendationRequest, context: ServingContext) -> Any:
        """What a kept answer depends on besides its key (the user's events, the catalog
        build): read only when an answer is kept under the key, and compared with the one it
        was kept under."""
        return None

    def recommend(self, request: RecommendationRequest, context: ServingContext) -> list[Answer]:
        """The shared pipeline: candidates -> filter -> score -> re-rank -> explain. Override a
        stage, not this, unless the scenario's answer is not a ranking at all."""
        slate = self.candidates(request, context)
        allowed = self.allowed(request, context, slate)
        if allowed is not None:
            slate = slate.keep(allowed)
        slate = self.score(request, context, slate)
        slate = self.rerank(request, context, slate)
        return self.explain(request, context, slate)

    def candidates(self, request: RecommendationRequest, context: ServingContext):
        """The candidate :class:`engine.pipeline.Slate`: rows (catalog rows, or indices the
        scenario's own ``explain`` understands), scores and reasons, best first."""
        raise NotImplementedError(f"{self.slug}: candidates() is not implemented")

    def allowed(self, request: RecommendationRequest, context: ServingContext, slate) -> np.ndarray:
        """Filter stage: a boolean mask over ``slate`` (business rules, already seen, the
        request's exclude list); None keeps every candidate."""
        return None

    def score(self, request: RecommendationRequest, context: ServingContext, slate):
        """Rank stage: re-score the filtered candidates (the default keeps their order)."""
        return slate

    def rerank(self, request: RecommendationRequest, context: ServingContext, slate):
        """Re-rank stage (diversity, exploration, an auction); the default keeps the first n."""
        return slate.head(request.n)

    def explain(
        self, request: RecommendationRequest, context: ServingContext, slate
    ) -> list[Answer]:
        """The answers of the final slate, each of this kind's answer type with its reason.
        The default names catalog rows as items (item kinds only)."""
        snapshot = context.snapshot
        if snapshot is None:
            raise NotImplementedError(f"{self.slug}: explain() is not implemented")
        return [
            RecommendedItem(item_id, score, reason)
            for item_id, score, reason in zip(
                snapshot.ids[slate.rows].tolist(), slate.scores.tolist(), slate.reasons, strict=True
            )
        ]

    def valid_until(self, context: ServingContext, answers: list[Answer]) -> float:
        """Unix time until which an answer kept under ``memo_key`` stays right (inf: until its
        token changes)."""
        return float("inf")

    def record_exposure(
        self, request: RecommendationRequest, answer: Recommendation, recommendation_id: str
    ) -> None:
        """After the answer is final: log what a scenario must remember of it (an ad's
        impression, a coupon's assignment) under its recommendation id; the engine counts the
        exposure itself."""

    # ---- feedback -------------------------------------------------------------------------
    def dashboard_figures(self) -> list[tuple[str, str]]:
        """(label, value) lines of this scenario's own for the admin dashboard, such as spend
        against budget; the engine already shows versions, training and online activity."""
        return []

    def feedback_events(self):
        """A queryset with ``recommendation_id``, ``event_type`` and ``timestamp`` columns,
        whose rows of ``click_events`` and ``outcome_events`` attribution counts. The default is
        the catalog's interactions; a scenario whose feedback lives in its own tables (ad clicks,
        coupon redemptions, follows) returns those."""
        from catalog.models import Interaction

        return Interaction.objects.all()
