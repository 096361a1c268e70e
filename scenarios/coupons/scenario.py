"""The coupons scenario: user -> offers chosen by uplift under each offer's budget.

Training fits one uplift model per offer (its treated rows against the holdout rows, from the
assignment log), measures the Qini coefficient on held-out people, then runs the budget
allocation (:mod:`scenarios.coupons.allocation`: a linear program, or greedy by gain per cost)
over the recent audience to set each offer's price of expected spend. Serving scores the
user's behaviour with numpy only: an offer is answered when its expected uplift is positive
and its net value (uplift - price * expected cost) is not negative, best net value first. A share of users (deterministic
per user) is held out: told so, given nothing, and logged as the control group of the offer
they would have had, so uplift stays measurable. Untrained, each user gets one offer at random:
the randomized log the first model trains on.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.db.models import CharField, Count, Q, Sum, Value
from django.utils import timezone

from catalog.models import Interaction, User
from engine.models import ModelVersion
from engine.pipeline import Slate
from engine.scenario import (
    ItemNotFound,
    Kind,
    OfferAnswer,
    RecommendationRequest,
    Scenario,
    ServingContext,
    TrainingOutcome,
)
from ml.artifacts import load_folder, save_folder
from scenarios.coupons.allocation import METHODS, allocate, gain_per_cost, net_value
from scenarios.coupons.dataset import AssignmentLog, build_log, features_at
from scenarios.coupons.features import FEATURE_NAMES
from scenarios.coupons.models import Assignment, Offer, Redemption

MODEL_FAMILIES = ("t_learner", "two_head_uplift")
REDEMPTION = "redemption"
# The offers a held-out user's answer withholds: the one fact record_exposure needs that the
# answer cannot show (it is empty) and the engine does not hand it (no ServingContext reaches
# the log stage), so rerank leaves it on the request object, which both stages see.
WITHHELD = "coupons.withheld"
SEED = 0
VALIDATION_RATIO = 0.2  # of the training people, for the network's early stopping

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "model": {"enum": list(MODEL_FAMILIES), "description": "uplift model family"},
        "allocation": {
            "enum": list(METHODS),
            "description": "how the budgets are split over the audience: a linear program "
            "(best), or greedy by gain per cost (for audiences too large for the LP)",
        },
        "holdout_share": {
            "type": "number",
            "minimum": 0,
            "maximum": 0.5,
            "description": "share of users held out (no offer) to measure uplift against",
        },
        "outcome_window_days": {
            "type": "integer",
            "minimum": 1,
            "maximum": 90,
            "description": "a purchase this many days after an assignment counts as its outcome",
        },
        "audience_days": {
            "type": "integer",
            "minimum": 1,
            "maximum": 3650,
            "description": "users active this recently are the audience the budgets are split over",
        },
        "test_ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
    },
}
DEFAULT_SETTINGS: dict[str, Any] = {
    "model": "t_learner",
    "allocation": "linear_program",
    "holdout_share": 0.1,
    "outcome_window_days": 7,
    "audience_days": 30,
    "test_ratio": 0.25,
}


def held_out(user_id: str, share: float) -> bool:
    """Deterministic per user: the same user stays in (or out of) the holdout."""
    digest = hashlib.blake2b(f"coupons-holdout:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def shuffled_for(user_id: str, offer_ids: list[str]) -> list[int]:
    """A random order of the offers, fixed per user (the untrained scenario's exploration)."""
    return sorted(
        range(len(offer_ids)),
        key=lambda i: hashlib.blake2b(f"{user_id}:{offer_ids[i]}".encode()).digest(),
    )


def model_class(name: str):
    from ml.models.uplift import TLearner, TwoHeadUplift

    return {"t_learner": TLearner, "two_head_uplift": TwoHeadUplift}[name]


def split_people(
    log: AssignmentLog, test_ratio: float, validation_ratio: float = VALIDATION_RATIO
) -> tuple[np.ndarray, np.ndarray]:
    """(test, validation) row masks: disjoint parts of the people, a person's rows on one side.
    The validation part (early stopping of the network) comes out of the training people."""
    people = np.random.default_rng(SEED).permutation(np.unique(log.user))
    n_test = max(1, int(round(test_ratio * len(people))))
    n_validation = int(round(validation_ratio * (len(people) - n_test)))
    return (
        np.isin(log.user, people[:n_test]),
        np.isin(log.user, people[n_test : n_test + n_validation]),
    )


def arm_rows(log: AssignmentLog, rows: np.ndarray, offer_pk: int) -> np.ndarray:
    """Rows of ``offer_pk``'s treated people and of every held-out person (their first row):
    without a coupon, which offer a person was held out from does not change their behaviour."""
    control = rows & (log.treated == 0)
    first_control = np.zeros_like(rows)
    _, first = np.unique(np.where(control, log.user, -1), return_index=True)
    first_control[first] = True
    return (rows & (log.treated == 1) & (log.offer == offer_pk)) | (control & first_control)


def fits(log: AssignmentLog, rows: np.ndarray) -> bool:
    """Both arms hold both outcomes, as the uplift models need."""
    for arm in (0, 1):
        outcomes = log.converted[rows & (log.treated == arm)]
        if outcomes.size == 0 or outcomes.min() == outcomes.max():
            return False
    return True


class CouponsScenario(Scenario):
    slug = "coupons"
    title = "Coupons"
    version = "1.0"
    kind = Kind.USER_OFFERS
    primary_metric = "qini"
    click_events = ()
    outcome_events = (REDEMPTION,)
    settings_schema = SETTINGS_SCHEMA
    default_settings = DEFAULT_SETTINGS
    request_time_settings = frozenset({"holdout_share"})

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
    def build_dataset(self, settings: dict[str, Any]) -> AssignmentLog:
        return build_log(settings)

    def train(self, version: ModelVersion, artifact_dir: Path, progress) -> TrainingOutcome:
        from ml.metrics.uplift import qini_coefficient, uplift_at_k

        started = time.monotonic()
        settings = self.effective_settings(version.settings)
        progress(0.05, "reading the assignment log")
        log = self.build_dataset(settings)
        cls = model_class(settings["model"])
        params = settings.get("hyperparameters", {})
        test, validation = split_people(log, settings["test_ratio"])
        offers = {offer.pk: offer for offer in Offer.objects.filter(pk__in=np.unique(log.offer))}
        models, history = {}, {}
        for position, offer_pk in enumerate(sorted(offers)):
            offer = offers[offer_pk]
            progress(0.1 + 0.6 * position / len(offers), f"fitting {cls.name} for {offer}")
            fit_rows = arm_rows(log, ~test & ~validation, offer_pk)
            if not fits(log, fit_rows):
                continue
            check = arm_rows(log, validation, offer_pk)
            model = cls(**params).fit(
                log.features[fit_rows],
                log.treated[fit_rows],
                log.converted[fit_rows],
                validation=(log.features[check], log.treated[check], log.converted[check])
                if fits(log, check)
                else None,
            )
            models[offer.offer_id] = model
            history.update({f"{offer.offer_id}.{k}": v for k, v in model.history.to_dict().items()})
        if not models:
            raise ValueError(
                "no offer has treated and held-out people with and without a purchase: "
                "too few assignments to train on"
            )
        progress(0.75, "evaluating on held-out people")
        by_pk = {offers[pk].offer_id: pk for pk in offers}
        score = np.zeros(len(log.user))
        for offer_id, model in models.items():
            rows = test & (log.offer == by_pk[offer_id])
            if rows.any():
                score[rows] = model.predict_uplift(log.features[rows])
        y, t = log.converted[test], log.treated[test]
        metrics = {"qini": qini_coefficient(y, t, score[test])}
        with contextlib.suppress(ValueError):  # a small test part's top 30% may hold one arm
            metrics["uplift@30%"] = uplift_at_k(y, t, score[test], 0.3)
        progress(0.85, "allocating the budgets over the audience")
        prices, planned = self._prices(models, settings)
        folder = Path(artifact_dir) / "model"
        for offer_id, model in models.items():
            model.save(folder / offer_id)
        save_folder(
            folder,
            {"offer_ids": list(models), "features": list(FEATURE_NAMES)},
            {"prices": np.array([prices[o] for o in models])},
        )
        return TrainingOutcome(
            metrics={k: float(v) for k, v in metrics.items()},
            history=history,
            data_snapshot={
                **log.snapshot(),
                "offers_modelled": list(models),
                "planned_offers": planned,
            },
            train_seconds=time.monotonic() - started,
        )

    def _prices(self, models: dict, settings: dict) -> tuple[dict[str, float], dict]:
        """Each offer's price of expected spend from the allocation over the recent audience."""
        now = timezone.now()
        since = now - timedelta(days=settings["audience_days"])
        audience = np.array(
            sorted(
                Interaction.objects.filter(timestamp__gte=since)
                .values_list("user_id", flat=True)
                .distinct()
            ),
            dtype=np.int64,
        )
        offers = {o.offer_id: o for o in Offer.objects.filter(offer_id__in=list(models))}
        ids = [offer_id for offer_id in models if offer_id in offers]
        if not len(audience) or not ids:
            return {offer_id: 0.0 for offer_id in models}, {}
        features = features_at(audience, np.full(len(audience), now.timestamp()))
        arms = [models[offer_id].predict_arms(features) for offer_id in ids]
        p_treated = np.column_stack([treated for treated, _ in arms])
        uplift = p_treated - np.column_stack([control for _, control in arms])
        allocation = allocate(
            uplift,
            p_treated,
            np.array([float(offers[o].cost_per_redemption) for o in ids]),
            np.array([max(float(offers[o].budget_left), 0.0) for o in ids]),
            method=settings["allocation"],
        )
        prices = {offer_id: 0.0 for offer_id in models}
        prices.update(zip(ids, allocation.prices.tolist(), strict=True))
        planned = {o: int((allocation.offer == i).sum()) for i, o in enumerate(ids)}
        return prices, planned

    # ---- serving --------------------------------------------------------------------------
    def load_state(self, version: ModelVersion) -> dict[str, Any]:
        from ml.base import Model

        folder = Path(version.artifact_path) / "model"
        config, arrays = load_folder(folder)
        return {
            "models": {offer_id: Model.load(folder / offer_id) for offer_id in config["offer_ids"]},
            "prices": dict(zip(config["offer_ids"], arrays["prices"].tolist(), strict=True)),
        }

    def resolve(self, request: RecommendationRequest, context: ServingContext) -> None:
        user_pk = User.objects.filter(external_id=request.user_id).values_list("pk", flat=True)
        user_pk = user_pk.first()
        if user_pk is None:
            raise ItemNotFound(f"no user {request.user_id!r}: offers are for known users")
        context.notes["user_pk"] = user_pk
        context.extra["holdout"] = held_out(request.user_id, context.settings["holdout_share"])

    def candidates(self, request: RecommendationRequest, context: ServingContext) -> Slate:
        now = timezone.now()
        offers = [
            offer
            for offer in Offer.objects.filter(is_active=True, valid_from__lte=now)
            if offer.is_valid_at(now) and offer.budget_left >= offer.cost_per_redemption
        ]
        context.notes["offers"] = offers
        if context.state is None:
            context.fallback = True
            order = shuffled_for(request.user_id, [offer.offer_id for offer in offers])[:1]
            reasons = ["chosen at random while no uplift model is trained"] * len(order)
            return Slate(np.array(order, dtype=np.int64), np.zeros(len(order)), reasons)
        models, prices = context.state["models"], context.state["prices"]
        rows = [row for row, offer in enumerate(offers) if offer.offer_id in models]
        if not rows:
            return Slate(np.zeros(0), np.zeros(0))
        features = features_at(np.array([context.notes["user_pk"]]), np.array([now.timestamp()]))
        arms = [models[offers[row].offer_id].predict_arms(features) for row in rows]
        p_treated = np.array([treated[0] for treated, _ in arms])
        uplift = p_treated - np.array([control[0] for _, control in arms])
        cost = np.array([float(offers[row].cost_per_redemption) for row in rows])
        ratio = gain_per_cost(uplift[None, :], p_treated[None, :], cost)[0]
        price = np.array([prices[offers[row].offer_id] for row in rows])
        net = net_value(uplift[None, :], p_treated[None, :], cost, price)[0]
        keep = np.flatnonzero((uplift > 0) & (net >= 0))
        keep = keep[np.argsort(-net[keep], kind="stable")]
        reasons = [
            f"+{uplift[i]:.1%} purchase chance for {cost[i]:g} per redemption "
            f"({ratio[i]:.3f} extra purchases per unit spent)"
            for i in keep.tolist()
        ]
        return Slate(np.array(rows)[keep], uplift[keep], reasons)

    def allowed(self, request: RecommendationRequest, context: ServingContext, slate: Slate):
        """Never an offer the user has used up (per-user limit)."""
        offers = context.notes["offers"]
        used = dict(
            Redemption.objects.filter(user_id=context.notes["user_pk"])
            .values_list("offer_id")
            .annotate(n=Count("pk"))
        )
        return np.array(
            [used.get(offers[row].pk, 0) < offers[row].per_user_limit for row in slate.rows],
            dtype=bool,
        )

    def rerank(self, request: RecommendationRequest, context: ServingContext, slate: Slate):
        """The first n; a held-out user is given none, and logged as held out from them."""
        slate = slate.head(request.n)
        if not context.extra["holdout"]:
            return slate
        offers = context.notes["offers"]
        request.context[WITHHELD] = [offers[row].pk for row in slate.rows.tolist()]
        return slate.head(0)

    def explain(self, request: RecommendationRequest, context: ServingContext, slate: Slate):
        offers = context.notes["offers"]
        return [
            OfferAnswer(offers[row].offer_id, score, reason)
            for row, score, reason in zip(
                slate.rows.tolist(), slate.scores.tolist(), slate.reasons, strict=True
            )
        ]

    def record_exposure(self, request, answer, recommendation_id: str) -> None:
        """Log each offer answered (treatment), or withheld from a held-out user (control),
        under the answer's id: the offers from the answer itself, as ads log impressions."""
        if answer.extra.get("holdout"):
            group, offer_pks = Assignment.Group.CONTROL, request.context.get(WITHHELD, [])
        else:
            group = Assignment.Group.TREATMENT
            answered = [item.offer_id for item in answer.items]
            offer_pks = list(
                Offer.objects.filter(offer_id__in=answered).values_list("pk", flat=True)
            )
        user_pk = User.objects.filter(external_id=request.user_id).values_list("pk", flat=True)
        user_pk = user_pk.first()
        if not offer_pks or user_pk is None:  # None: the user was deleted meanwhile
            return
        now = timezone.now()
        Assignment.objects.bulk_create(
            Assignment(
                user_id=user_pk,
                offer_id=offer_pk,
                group=group,
                timestamp=now,
                recommendation_id=recommendation_id,
            )
            for offer_pk in offer_pks
        )

    # ---- feedback -------------------------------------------------------------------------
    def dashboard_figures(self):
        """Redemption spend against the offers' budgets, in one query."""
        found = Offer.objects.aggregate(
            offers=Count("pk"),
            active=Count("pk", filter=Q(is_active=True)),
            spent=Sum("spent"),
            budget=Sum("total_budget"),
        )
        if not found["offers"]:
            return []
        spent, budget = found["spent"] or 0, found["budget"] or 0
        return [
            (
                "redemption spend / budgets",
                f"{spent:.2f} of {budget:.2f} over {found['offers']} offers "
                f"({found['active']} active)",
            )
        ]

    def feedback_events(self):
        return Redemption.objects.annotate(event_type=Value(REDEMPTION, output_field=CharField()))
