"""The social scenario: user -> people they may want to follow, each with a reason.

Training reads the follow graph and what each person bought (brands), holds out a share of the
follows, fits :class:`ml.models.people_ranker.PeopleRanker` (friends of friends and embedding
neighbours ranked by a learned combination of common neighbours, Adamic-Adar, resource
allocation, TensorFlow node embeddings and purchase similarity) on the rest (with
``model_search`` on, the ranker's hyperparameters and Adamic-Adar alone are searched first by
recall@10 on the held-out follows, and the winner is the one fitted), measures recall@10
and NDCG@10 on the held-out follows against Adamic-Adar alone on the same split, then computes
every person's top list on the whole graph. Serving reads those lists (numpy only) and filters
them at request time from the database: never the user, anyone they follow now, anyone blocked
either way, anyone who opted out. So a follow, a block or an opt-out changes the next answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.db.models import CharField, Count, Q, Value

from catalog.models import Interaction, Item, User
from engine.models import ModelVersion
from engine.pipeline import Slate
from engine.scenario import (
    ItemNotFound,
    Kind,
    RecommendationRequest,
    Scenario,
    ServingContext,
    TrainingOutcome,
    UserSuggestion,
)
from engine.search import search_model
from ml.artifacts import load_folder, save_folder
from scenarios.social.models import Block, Follow, OptOut

FOLLOW = "follow"
MODEL_FAMILIES = ("people_ranker", "adamic_adar")
SEED = 0
POPULAR = 100  # most-followed people offered to users the model has no list for

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "model": {
            "enum": list(MODEL_FAMILIES),
            "description": "people_ranker: the learned ranker; adamic_adar: that score alone "
            "(with model_search on: the search's first point)",
        },
        "search_families": {"type": "array", "items": {"enum": list(MODEL_FAMILIES)}},
        "test_share": {
            "type": "number",
            "minimum": 0,
            "maximum": 0.5,
            "description": "share of follows held out to measure recall@10 on",
        },
        "list_length": {
            "type": "integer",
            "minimum": 1,
            "maximum": 500,
            "description": (
                "suggestions kept per person, filtered at request time (at most the "
                "ranker's rerank_depth hyperparameter, 50 by default)"
            ),
        },
        "same_brands_threshold": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "purchase similarity from which the reason says 'buys the same brands'",
        },
    },
}
DEFAULT_SETTINGS: dict[str, Any] = {
    "model": "people_ranker",
    "test_share": 0.1,
    "list_length": 50,
    "same_brands_threshold": 0.5,
    "search_families": list(MODEL_FAMILIES),
}


@dataclass
class FollowGraph:
    """The follows as node indices, who each node is, and what brands each node bought."""

    user_pks: np.ndarray  # node -> catalog pk (sorted)
    user_ids: np.ndarray  # node -> the store's user id
    edges: np.ndarray  # [m, 2] (follower, followee) nodes
    purchases: sp.csr_matrix  # nodes x brands, purchase counts
    brands: list[str]

    def snapshot(self) -> dict[str, Any]:
        return {
            "people": len(self.user_pks),
            "follows": len(self.edges),
            "brands": len(self.brands),
            "buyers": int(np.diff(self.purchases.indptr).astype(bool).sum()),
        }


def item_brand(attributes: dict, tags: list) -> str:
    """An item's brand: its ``brand`` attribute, else its first tag (the demo store's)."""
    brand = (attributes or {}).get("brand") or (tags[0] if tags else "")
    return str(brand).strip().lower()


def read_follow_graph() -> FollowGraph:
    pairs = np.array(
        Follow.objects.order_by("timestamp", "pk").values_list("follower_id", "followee_id"),
        dtype=np.int64,
    ).reshape(-1, 2)
    if len(pairs) < 2:
        raise ValueError(f"{len(pairs)} follows: too few to train on")
    user_pks, edges = np.unique(pairs, return_inverse=True)
    edges = edges.reshape(-1, 2)
    names = dict(User.objects.filter(pk__in=user_pks.tolist()).values_list("pk", "external_id"))
    user_ids = np.array([names[pk] for pk in user_pks.tolist()], dtype=str)
    bought = np.array(
        Interaction.objects.filter(event_type="purchase").values_list("user_id", "item_id"),
        dtype=np.int64,
    ).reshape(-1, 2)
    position = np.searchsorted(user_pks, bought[:, 0])
    known = (position < len(user_pks)) & (
        user_pks[np.minimum(position, len(user_pks) - 1)] == bought[:, 0]
    )
    bought, position = bought[known], position[known]
    items = np.unique(bought[:, 1])
    brand_of = {
        pk: item_brand(attributes, tags)
        for pk, attributes, tags in Item.objects.filter(pk__in=items.tolist()).values_list(
            "pk", "attributes", "tags"
        )
    }
    brands = sorted({brand for brand in brand_of.values() if brand})
    column = {brand: index for index, brand in enumerate(brands)}
    item_column = np.array([column.get(brand_of.get(pk, ""), -1) for pk in items.tolist()])
    columns = item_column[np.searchsorted(items, bought[:, 1])] if len(items) else np.zeros(0, int)
    has_brand = columns >= 0
    purchases = sp.csr_matrix(
        (np.ones(has_brand.sum()), (position[has_brand], columns[has_brand])),
        shape=(len(user_pks), max(len(brands), 1)),
    )
    purchases.sum_duplicates()
    return FollowGraph(user_pks, user_ids, edges, purchases, brands)


def split_follows(edges: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """True for held-out follows: a random ``share`` of them, never a follower's every one."""
    follower = edges[:, 0]
    held = rng.random(len(edges)) < share
    held &= np.bincount(follower)[follower] >= 2
    kept = np.bincount(follower[~held], minlength=int(follower.max()) + 1)
    emptied = np.flatnonzero(held & (kept[follower] == 0))
    _, first = np.unique(follower[emptied], return_index=True)
    held[emptied[first]] = False  # each such follower keeps one follow
    return held


def model_for(settings: dict[str, Any]):
    from ml.models.people_ranker import PeopleRanker

    params = dict(settings.get("hyperparameters", {}))
    if settings["model"] == "adamic_adar":
        params.update(features=["adamic_adar"], embedding_candidates=0)
    return PeopleRanker(**params)


def ranking_quality(model, test_edges: np.ndarray) -> dict[str, float]:
    """recall@10 and ndcg@10 of each held-out follower's top 10 against their held-out follows
    (the model was fitted without them)."""
    from ml.metrics.ranking import ranking_metrics

    followers, inverse = np.unique(test_edges[:, 0], return_inverse=True)
    relevant = sp.csr_matrix(
        (np.ones(len(test_edges)), (inverse, test_edges[:, 1])),
        shape=(len(followers), model.n_nodes),
    )
    found = ranking_metrics(model.suggest(followers, 10).ids, relevant, 10)
    return {"recall@10": found["recall@10"], "ndcg@10": found["ndcg@10"]}


def reason_for(mutual: int, follows_you: bool, same_brands: bool) -> str:
    parts = []
    if follows_you:
        parts.append("follows you")
    if mutual:
        parts.append(f"{mutual} mutual follow{'s' if mutual != 1 else ''}")
    if same_brands:
        parts.append("buys the same brands")
    return ", ".join(parts) or "close to people you follow"


class SocialScenario(Scenario):
    slug = "social"
    title = "People you may know"
    version = "1.0"
    kind = Kind.USER_USERS
    primary_metric = "recall@10"
    click_events = ()
    outcome_events = (FOLLOW,)
    settings_schema = SETTINGS_SCHEMA
    default_settings = DEFAULT_SETTINGS
    request_time_settings = frozenset({"same_brands_threshold"})

    def validate_settings(self, settings: dict[str, Any]) -> list[str]:
        errors = super().validate_settings(settings)
        if errors:
            return errors
        try:
            model_for({**self.default_settings, **settings})
        except (ValueError, TypeError) as error:
            errors.append(f"hyperparameters: {error}")
        return errors

    # ---- training -------------------------------------------------------------------------
    def build_dataset(self, settings: dict[str, Any]) -> FollowGraph:
        return read_follow_graph()

    def train(self, version: ModelVersion, artifact_dir: Path, progress) -> TrainingOutcome:
        """Search the families on the held-out follows (as products does on its held-out
        split), fit the winner on the rest and measure it there, then rank on the whole graph."""
        started = time.monotonic()
        settings = self.effective_settings(version.settings)
        progress(0.05, "reading the follow graph and purchases")
        graph = self.build_dataset(settings)
        n = len(graph.user_pks)
        held = split_follows(graph.edges, settings["test_share"], np.random.default_rng(SEED))
        train_edges, test_edges = graph.edges[~held], graph.edges[held]

        def fitted(family: str, params: dict[str, Any]):
            return model_for({"model": family, "hyperparameters": params}).fit(
                train_edges, n_nodes=n, directed=True, purchases=graph.purchases
            )

        def objective(family: str, params: dict[str, Any]) -> float:
            return ranking_quality(fitted(family, params), test_edges)[self.primary_metric]

        from ml.models.people_ranker import PeopleRanker

        family, params, record = search_model(
            self.slug,
            {**settings, "model_search": settings["model_search"] and len(test_edges) > 0},
            {"people_ranker": PeopleRanker.search_space(), "adamic_adar": {}},
            objective,
            metric=self.primary_metric,
            progress=lambda share, message: progress(0.05 + 0.45 * share, message),
        )
        progress(0.5, f"fitting {family} on {len(train_edges)} follows")
        model = fitted(family, params)
        metrics: dict[str, float] = {"recall@10": 0.0, "ndcg@10": 0.0}
        if len(test_edges):
            progress(0.6, f"measuring on {len(test_edges)} held-out follows")
            metrics = ranking_quality(model, test_edges)
            baseline = model_for({**settings, "model": "adamic_adar"}).fit(
                train_edges, n_nodes=n, directed=True
            )
            for name, value in ranking_quality(baseline, test_edges).items():
                metrics[f"adamic_adar_{name}"] = value
        metrics["test_follows"] = float(len(test_edges))
        progress(0.75, "ranking everyone's suggestions on the whole graph")
        model.use_graph(graph.edges, directed=True, purchases=graph.purchases)
        lists = model.suggest(np.arange(n), settings["list_length"])
        folder = Path(artifact_dir)
        model.save(folder / "model")
        save_folder(
            folder / "lists",
            {"features": ["common_neighbours", "follows_you", "same_brands"]},
            {
                "user_ids": graph.user_ids,
                "ids": lists.ids.astype(np.int32),
                "scores": lists.scores,
                "mutual": np.rint(np.expm1(lists.feature("common_neighbours"))).astype(np.int32),
                "follows_you": lists.feature("follows_you") > 0,
                "same_brands": lists.feature("same_brands").astype(np.float16),
            },
        )
        return TrainingOutcome(
            metrics={k: float(v) for k, v in metrics.items()},
            history=model.history.to_dict(),
            data_snapshot={**graph.snapshot(), **model.training_summary},
            train_seconds=time.monotonic() - started,
            search=record,
            algorithm=family,
            hyperparameters=params,
        )

    # ---- serving --------------------------------------------------------------------------
    def load_state(self, version: ModelVersion) -> dict[str, Any]:
        _, arrays = load_folder(Path(version.artifact_path) / "lists")
        user_ids = arrays["user_ids"]
        return {**arrays, "row": {user: row for row, user in enumerate(user_ids.tolist())}}

    def resolve(self, request: RecommendationRequest, context: ServingContext) -> None:
        user_pk = User.objects.filter(external_id=request.user_id).values_list("pk", flat=True)
        context.notes["user_pk"] = user_pk.first()
        if context.notes["user_pk"] is None:
            raise ItemNotFound(f"no user {request.user_id!r}: suggestions are for known users")

    def candidates(self, request: RecommendationRequest, context: ServingContext) -> Slate:
        state = context.state
        row = None if state is None else state["row"].get(request.user_id)
        if row is not None:
            ids = state["ids"][row]
            keep = np.flatnonzero(ids >= 0)
            ids = ids[keep]
            threshold = context.settings["same_brands_threshold"]
            reasons = [
                reason_for(mutual, follows_you, brands >= threshold)
                for mutual, follows_you, brands in zip(
                    state["mutual"][row][keep].tolist(),
                    state["follows_you"][row][keep].tolist(),
                    state["same_brands"][row][keep].astype(np.float32).tolist(),
                    strict=True,
                )
            ]
            context.notes["user_ids"] = state["user_ids"]
            return Slate(ids, state["scores"][row][keep], reasons)
        # Untrained, or someone the model never saw: the most followed people.
        context.fallback = state is None
        context.cold_start = state is not None
        popular = list(
            Follow.objects.values_list("followee__external_id")
            .annotate(followers=Count("pk"))
            .order_by("-followers", "followee__external_id")[: POPULAR + request.n]
        )
        context.notes["user_ids"] = np.array([user for user, _ in popular], dtype=str)
        counts = np.array([count for _, count in popular], dtype=np.float32)
        reasons = [
            f"followed by {count} {'people' if count != 1 else 'person'}" for _, count in popular
        ]
        return Slate(np.arange(len(popular)), counts, reasons)

    def allowed(self, request: RecommendationRequest, context: ServingContext, slate: Slate):
        """Never the user, someone they follow, someone blocked either way, an opted-out user."""
        shown = context.notes["user_ids"][slate.rows].tolist() if len(slate) else []
        if not shown:
            return np.zeros(0, dtype=bool)
        user_pk = context.notes["user_pk"]
        refused = set(
            Follow.objects.filter(follower_id=user_pk, followee__external_id__in=shown).values_list(
                "followee__external_id", flat=True
            )
        )
        for blocker, blocked in Block.objects.filter(
            Q(blocker_id=user_pk, blocked__external_id__in=shown)
            | Q(blocked_id=user_pk, blocker__external_id__in=shown)
        ).values_list("blocker__external_id", "blocked__external_id"):
            refused.update((blocker, blocked))  # the user's own id is refused anyway
        refused.update(
            OptOut.objects.filter(user__external_id__in=shown).values_list(
                "user__external_id", flat=True
            )
        )
        refused.add(request.user_id)
        return np.array([user not in refused for user in shown], dtype=bool)

    def explain(self, request: RecommendationRequest, context: ServingContext, slate: Slate):
        user_ids = context.notes["user_ids"]
        return [
            UserSuggestion(str(user_ids[row]), score, reason)
            for row, score, reason in zip(
                slate.rows.tolist(), slate.scores.tolist(), slate.reasons, strict=True
            )
        ]

    # ---- feedback -------------------------------------------------------------------------
    def feedback_events(self):
        return Follow.objects.annotate(event_type=Value(FOLLOW, output_field=CharField()))
