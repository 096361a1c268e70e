"""What an offer achieved: people given it, redemptions, money, and the conversions it added.

The incremental conversion rate compares the people given the offer with the people held out
from it (the same targeting, no coupon): the share who bought within the outcome window after
their first assignment, treatment minus control, with the engine's two-proportion test and 95%
interval (:func:`engine.experiments.compare_arms`). Only assignments whose window has closed
count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import Min
from django.utils import timezone

from engine import registry
from engine.experiments import Comparison, compare_arms
from engine.models import ScenarioConfig
from scenarios.coupons.dataset import bought_within, purchase_times
from scenarios.coupons.models import Assignment, Offer


@dataclass(frozen=True)
class OfferStats:
    issued: int  # people given the offer
    held_out: int  # people held out from it
    redeemed: int
    spent: Decimal
    budget_left: Decimal
    incremental: Comparison


def offer_stats(offer: Offer) -> OfferStats:
    saved = ScenarioConfig.for_slug("coupons").settings
    settings = registry.get("coupons").effective_settings(saved)
    window = timedelta(days=settings["outcome_window_days"])
    first = list(
        Assignment.objects.filter(offer=offer)
        .values("user_id", "group")
        .annotate(first=Min("timestamp"))
        .values_list("user_id", "group", "first")
    )
    closed = [row for row in first if row[2] <= timezone.now() - window]
    times = purchase_times(sorted({row[0] for row in closed}))
    hits = {Assignment.Group.TREATMENT: [0, 0], Assignment.Group.CONTROL: [0, 0]}
    for user_pk, group, moment in closed:
        hits[group][0] += bought_within(times, user_pk, moment.timestamp(), window.total_seconds())
        hits[group][1] += 1
    control, treatment = hits[Assignment.Group.CONTROL], hits[Assignment.Group.TREATMENT]
    return OfferStats(
        issued=sum(1 for row in first if row[1] == Assignment.Group.TREATMENT),
        held_out=sum(1 for row in first if row[1] == Assignment.Group.CONTROL),
        redeemed=offer.redemptions.count(),
        spent=offer.spent,
        budget_left=offer.budget_left,
        incremental=compare_arms("conversion", *control, *treatment),
    )
