"""Redeeming a coupon: every rule checked, then charged in one transaction, once per event id.

The offer's row is locked (``select_for_update``) before its rules are read, so concurrent
redemptions of one offer run one after another: none can spend past the budget or past a
user's limit, whatever the number of processes. ``event_id`` is unique: a retried request
returns the redemption it made the first time (and charges nothing again).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import User
from engine.ids import require_recommendation_id
from engine.scenario import InvalidRequest
from scenarios.coupons.models import Assignment, Offer, Redemption

SLUG = "coupons"


class RedemptionRefused(Exception):
    """A rule refused the redemption; ``status`` is the HTTP status, ``rule`` names the rule."""

    def __init__(self, status: int, rule: str, message: str):
        super().__init__(message)
        self.status, self.rule, self.message = status, rule, message


@dataclass(frozen=True)
class Outcome:
    redemption: Redemption
    replayed: bool  # True: the event id was redeemed before, nothing was charged now
    budget_left: Decimal


def redeem(
    *,
    user_id: str,
    offer_id: str,
    basket_total: Decimal,
    event_id: str,
    recommendation_id: str = "",
    categories: list[str] | None = None,
) -> Outcome:
    """Check every rule and record the redemption, or raise :class:`RedemptionRefused`."""
    user = User.objects.filter(external_id=user_id).first()
    if user is None:
        raise RedemptionRefused(404, "unknown_user", f"no user {user_id!r}")
    if not Offer.objects.filter(offer_id=offer_id).exists():
        raise RedemptionRefused(404, "unknown_offer", f"no offer {offer_id!r}")
    if recommendation_id:
        try:
            require_recommendation_id(SLUG, recommendation_id)
        except InvalidRequest as error:
            raise RedemptionRefused(400, "recommendation_id", str(error)) from None
    try:
        with transaction.atomic():
            offer = Offer.objects.select_for_update().get(offer_id=offer_id)
            earlier = Redemption.objects.filter(event_id=event_id).first()
            if earlier is not None:
                return _replay(earlier, user, offer, basket_total)
            quoted = _check(offer, user, basket_total, recommendation_id, categories)
            redemption = Redemption.objects.create(
                user=user,
                offer=offer,
                basket_total=basket_total,
                cost=offer.cost_per_redemption,
                event_id=event_id,
                recommendation_id=quoted,
            )
            offer.spent += offer.cost_per_redemption
            offer.save(update_fields=["spent"])
            return Outcome(redemption, False, offer.budget_left)
    except IntegrityError:  # the same event id committed by a request that did not lock first
        earlier = Redemption.objects.filter(event_id=event_id).first()
        if earlier is None:
            raise
        return _replay(earlier, user, Offer.objects.get(offer_id=offer_id), basket_total)


def _replay(earlier: Redemption, user: User, offer: Offer, basket_total: Decimal) -> Outcome:
    if (earlier.user_id, earlier.offer_id, earlier.basket_total) != (
        user.pk,
        offer.pk,
        basket_total,
    ):
        raise RedemptionRefused(
            409,
            "event_id",
            f"event_id {earlier.event_id!r} already recorded a different redemption",
        )
    return Outcome(earlier, True, offer.budget_left)


def _check(
    offer: Offer,
    user: User,
    basket_total: Decimal,
    recommendation_id: str,
    categories: list[str] | None,
) -> str:
    """Every rule, in the order a shopper can act on; returns the recommendation id to quote."""
    now = timezone.now()
    if not offer.is_active:
        raise RedemptionRefused(422, "inactive", f"offer {offer.offer_id!r} is switched off")
    if now < offer.valid_from:
        raise RedemptionRefused(
            422, "not_started", f"offer {offer.offer_id!r} is valid from {offer.valid_from}"
        )
    if offer.valid_until is not None and now >= offer.valid_until:
        raise RedemptionRefused(
            422, "expired", f"offer {offer.offer_id!r} expired at {offer.valid_until}"
        )
    given = Assignment.objects.filter(user=user, offer=offer, group=Assignment.Group.TREATMENT)
    if recommendation_id:
        given = given.filter(recommendation_id=recommendation_id)
    assignment = given.order_by("-timestamp", "-pk").first()
    if assignment is None:
        quoted = f" in answer {recommendation_id!r}" if recommendation_id else ""
        raise RedemptionRefused(
            422,
            "not_assigned",
            f"offer {offer.offer_id!r} was not given to user {user.external_id!r}{quoted}",
        )
    if basket_total < offer.min_basket:
        raise RedemptionRefused(
            422,
            "min_basket",
            f"basket total {basket_total} is below the offer's minimum of {offer.min_basket}",
        )
    if (
        offer.eligible_categories
        and categories is not None
        and not any(
            category == allowed or category.startswith(f"{allowed}/")
            for category in categories
            for allowed in offer.eligible_categories
        )
    ):
        raise RedemptionRefused(
            422,
            "categories",
            f"the basket has no item in the offer's categories {offer.eligible_categories}",
        )
    used = Redemption.objects.filter(user=user, offer=offer).count()
    if used >= offer.per_user_limit:
        raise RedemptionRefused(
            409,
            "per_user_limit",
            f"user {user.external_id!r} has used offer {offer.offer_id!r} {used} time(s), "
            f"its limit is {offer.per_user_limit}",
        )
    if offer.spent + offer.cost_per_redemption > offer.total_budget:
        raise RedemptionRefused(
            409,
            "budget",
            f"offer {offer.offer_id!r} has {offer.budget_left} of its budget left, "
            f"a redemption costs {offer.cost_per_redemption}",
        )
    return assignment.recommendation_id
