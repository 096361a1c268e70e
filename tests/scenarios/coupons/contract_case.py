"""How the engine's contract tests drive coupons: a randomized campaign on extra shoppers
(browsers are persuaded by a coupon, buyers buy anyway), then p2 asks for offers and redeems
the first one."""

import itertools
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from tests.engine.contract_cases import Case

_event_ids = itertools.count()


def history(user, browser: bool, moment) -> list:
    """Events before ``moment``: browsers behave as the planted phone buyers do (one purchase,
    three views in the last hours), so p1-p6 look persuadable; buyers buy every few days."""
    from catalog.models import Interaction, Item

    item = Item.objects.get(external_id="phone-1" if browser else "book-1")
    return [
        Interaction(
            user=user,
            item=item,
            event_type=event_type if browser else "purchase",
            timestamp=moment
            - (timedelta(hours=10 - offset) if browser else timedelta(days=3 * offset + 1)),
        )
        for offset, event_type in enumerate(["purchase", "view", "view", "view"])
    ]


def seed_campaign(people: int = 240) -> None:
    """Two offers and ``people`` shoppers given one at random or held out, 10 days ago."""
    import numpy as np

    from catalog.models import Interaction, Item, User
    from scenarios.coupons.models import Assignment, Offer

    rng = np.random.default_rng(0)
    now = timezone.now()
    started = now - timedelta(days=10)
    offers = [
        Offer.objects.create(
            offer_id=offer_id,
            title=title,
            discount_type=Offer.DiscountType.PERCENT,
            discount_value=Decimal(value),
            min_basket=Decimal("10"),
            cost_per_redemption=Decimal(cost),
            total_budget=Decimal("1000"),
            per_user_limit=2,
            valid_from=started - timedelta(days=1),
        )
        for offer_id, title, value, cost in (
            ("ten", "10% off", 10, "5"),
            ("five", "5% off", 5, "2"),
        )
    ]
    book = Item.objects.get(external_id="book-1")
    events, assignments = [], []
    for n in range(people):
        user = User.objects.create(external_id=f"campaign-{n}")
        browser = n % 2 == 0
        events += history(user, browser, started)
        treated = rng.random() < 0.5
        assignments.append(
            Assignment(
                user=user,
                offer=offers[n // 2 % 2],
                group=Assignment.Group.TREATMENT if treated else Assignment.Group.CONTROL,
                timestamp=started,
                recommendation_id="seed",
            )
        )
        rate = (0.8 if treated else 0.1) if browser else 0.6
        if rng.random() < rate:
            events.append(
                Interaction(
                    user=user,
                    item=book,
                    event_type="purchase",
                    timestamp=started + timedelta(days=1),
                )
            )
    Interaction.objects.bulk_create(events)
    Assignment.objects.bulk_create(assignments)


def redeem_first_offer(client, body, user_id):
    return client.post(
        "/api/v1/coupons/redeem",
        {
            "user_id": user_id,
            "offer_id": body["items"][0]["offer_id"],
            "basket_total": "150.00",
            "event_id": f"contract-coupon-{next(_event_ids)}",
            "recommendation_id": body["recommendation_id"],
        },
        format="json",
    )


CASE = Case(
    query={"user_id": "p2", "n": 2},
    bad=[{"n": 2}, {"user_id": "p2", "n": 0}, {"user_id": "p2", "n": "many"}],
    feedback=redeem_first_offer,
    seed=seed_campaign,
    settings={"holdout_share": 0.0},
)
