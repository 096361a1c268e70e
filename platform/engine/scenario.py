"""The Scenario contract every plugin implements, and the request / answer types they share.

One contract covers the seven shapes the business needs (see :class:`Kind`): what differs is the
input (a user, an item, a basket, a slot, a query) and what the answer holds besides ranked ids
(an auction's price, an allocation, a handoff decision). Model versions, promotion, experiments,
attribution and caching are the engine's; a scenario supplies its schema, dataset, training and
the stages of the shared serving pipeline.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from engine.models import ModelVersion

Progress = Callable[[float, str], None]


class ItemNotFound(LookupError):
    """A request names an item that is not in the catalog (the API answers 404)."""


class InvalidRequest(ValueError):
    """A request the client must fix (the API answers 400 with this message)."""


class Kind(enum.StrEnum):
    """What a scenario maps from and to; decides which request fields it reads."""

    USER_ITEMS = "user_items"  # products, content feed: user -> ranked items
    ITEM_ITEMS = "item_items"  # similar products, related guides: item -> items
    BASKET_ITEMS = "basket_items"  # frequently bought together: items in a basket -> items
    SLOT_ADS = "slot_ads"  # user + slot -> ads won in an auction under campaign budgets
    USER_OFFERS = "user_offers"  # coupons: user -> offers allocated under a budget
    QUERY_ANSWERS = "query_answers"  # FAQ: query text -> answers plus a handoff decision
    USER_USERS = "user_users"  # social: user -> people to follow


@dataclass
class RecommendationRequest:
    """Everything a serving call may carry; each kind reads the fields it needs."""

    user_id: str | None = None
    n: int = 10
    item_ids: list[str] = field(default_factory=list)  # the item (ITEM_ITEMS) or the basket
    exclude: list[str] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)  # category, min_price, max_price, ...
    query: str = ""  # QUERY_ANSWERS
    slot: str = ""  # SLOT_ADS
    context: dict[str, Any] = field(default_factory=dict)
    user_attributes: dict[str, Any] = field(default_factory=dict)  # for unknown users
    mode: str = ""  # a scenario's sub-endpoint: "similar", "basket", "trending", ...


@dataclass
class RecommendedItem:
    item_id: str
    score: float
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)  # price paid, offer value, ...

    def body(self) -> dict[str, Any]:
        """The item as a response shows it."""
        return {
            "item_id": self.item_id,
            "score": round(float(self.score), 6),
            "reason": self.reason,
        } | self.extra


@dataclass
class Recommendation:
    """A scenario's answer before the engine stamps the recommendation id on it."""

    items: list[RecommendedItem]
    model_version: int | None = None
    cold_start: bool = False
    fallback: bool = False  # True when no trained version served it (popularity instead)
    extra: dict[str, Any] = field(default_factory=dict)  # handoff, auction, budget state
    # The items' bodies when a scenario kept them from an earlier identical answer (read only).
    item_bodies: list[dict[str, Any]] | None = None


@dataclass
class TrainingOutcome:
    """What ``Scenario.train`` hands back for the engine to record on the ModelVersion."""

    metrics: dict[str, float]
    history: dict[str, list[float]]
    data_snapshot: dict[str, Any]
    train_seconds: float = 0.0


class Scenario:
    """Base class of every scenario plugin; one instance per process, registered by its app.

    Subclasses set ``slug``, ``title``, ``kind`` and ``settings_schema`` (JSON Schema of the
    settings an operator edits in the admin) and implement :meth:`train` and :meth:`recommend`.
    ``settings_schema`` must give every key a default in ``default_settings``.
    """

    slug: ClassVar[str] = ""
    title: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    kind: ClassVar[Kind] = Kind.USER_ITEMS
    primary_metric: ClassVar[str] = "ndcg@10"
    settings_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    default_settings: ClassVar[dict[str, Any]] = {}
    queues: ClassVar[dict[str, str]] = {"train": "training", "score": "scoring"}
    # Settings applied per request (re-ranking, filters): a change serves within seconds,
    # without retraining; every other setting applies from the next trained version.
    request_time_settings: ClassVar[frozenset[str]] = frozenset()

    def validate_settings(self, settings: dict[str, Any]) -> list[str]:
        """Messages for every problem in ``settings`` (empty when valid).

        The base checks the JSON Schema; subclasses add checks a schema cannot express (a
        hyperparameter the chosen model does not know) by extending the list.
        """
        from engine.schema import schema_errors

        return schema_errors(self.settings_schema, settings)

    def effective_settings(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with what the operator saved."""
        return {**self.default_settings, **(stored or {})}

    def serving_settings(self, trained_with: dict[str, Any] | None) -> dict[str, Any]:
        """A version's settings (the defaults when none) with the operator's current
        ``request_time_settings`` on top."""
        from engine.serving import routes

        settings = dict(trained_with or self.default_settings)
        saved = routes.saved_settings(self.slug)
        settings.update((key, saved[key]) for key in self.request_time_settings if key in saved)
        return settings

    def is_trainable(self) -> bool:
        """False for scenarios that serve rules only (no model versions)."""
        return True

    def train(
        self, version: ModelVersion, artifact_dir: Path, progress: Progress
    ) -> TrainingOutcome:
        """Build the dataset from the database, fit, evaluate on a held-out split, save artifacts.

        ``progress(fraction, message)`` reports how far along it is; raising fails the version.
        """
        raise NotImplementedError(f"{self.slug}: train() is not implemented")

    def score_users(
        self, version: ModelVersion, progress: Progress, user_ids: list[str] | None = None
    ) -> dict[str, list[dict]]:
        """Precomputed lists keyed by user id: for active users, or for ``user_ids`` alone (their
        events just changed); {} when a scenario has none."""
        return {}

    def warm_up(self, version_id: int | None) -> None:
        """Load what serving ``version_id`` needs (artifacts, catalog arrays) before the first
        request, so no user waits for it; the default loads nothing."""

    def recommend(self, request: RecommendationRequest, version_id: int | None) -> Recommendation:
        """Answer with model version ``version_id`` (None: never trained, use the fallback).

        Must not raise for a well-formed request: a version that cannot be loaded falls back too,
        and the answer's ``model_version`` says which version really served it.
        """
        raise NotImplementedError(f"{self.slug}: recommend() is not implemented")
