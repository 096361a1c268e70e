"""``manage.py seed_demo`` hook: three offers and a randomized campaign with a known uplift.

Every demo shopper was, a week and a day ago, either held out or given one of the offers at
random; who bought afterwards follows a hidden type drawn from their behaviour before that day
(:mod:`scenarios.coupons.simulation`: persuadables, sure things, lost causes, sleeping dogs),
so what the model targets can be checked against the truth. Buyers get a purchase event and,
when they had a coupon, a redemption charged to its budget. Then a first model is queued.
"""

from datetime import timedelta
from decimal import Decimal

import numpy as np
from django.utils import timezone

from catalog.models import Interaction, Item, User
from engine.ids import new_recommendation_id
from engine.models import ModelVersion
from engine.versions import request_training
from scenarios.coupons.dataset import features_at
from scenarios.coupons.models import Assignment, Offer, Redemption
from scenarios.coupons.scenario import DEFAULT_SETTINGS
from scenarios.coupons.simulation import DEMO_OFFERS, TYPES, run_experiment

BUDGET_PER_PERSON = 4  # money per demo shopper, split over the offers


def seed(*, rng, stdout, scale):
    if Offer.objects.exists():
        stdout.write("coupons: offers exist already; no demo campaign added")
        return
    users = np.array(User.objects.order_by("pk").values_list("pk", flat=True), dtype=np.int64)
    products = list(Item.objects.filter(kind="product").values_list("pk", "price"))
    if not len(users) or not products:
        stdout.write("coupons: no users or products to run a demo campaign on")
        return
    now = timezone.now()
    window = timedelta(days=DEFAULT_SETTINGS["outcome_window_days"])
    started = now - window - timedelta(days=1)
    offers = [
        Offer.objects.create(
            offer_id=offer_id,
            title=title,
            discount_type=kind,
            discount_value=Decimal(value),
            min_basket=Decimal(minimum),
            cost_per_redemption=Decimal(str(cost)),
            total_budget=Decimal(BUDGET_PER_PERSON * len(users) // len(DEMO_OFFERS)),
            valid_from=started - timedelta(days=1),
            valid_until=now + timedelta(days=60),
        )
        for offer_id, title, kind, value, minimum, cost, _ in DEMO_OFFERS
    ]
    strength = np.array([entry[-1] for entry in DEMO_OFFERS])
    features = features_at(users, np.full(len(users), started.timestamp()))
    campaign = run_experiment(features, strength, rng, holdout=0.5)
    assignments, events, redemptions = [], [], []
    for row, user_pk in enumerate(users.tolist()):
        offer = offers[campaign.offer[row]]
        treated = bool(campaign.treated[row])
        recommendation_id = new_recommendation_id("coupons", None, "")
        assignments.append(
            Assignment(
                user_id=user_pk,
                offer=offer,
                group=Assignment.Group.TREATMENT if treated else Assignment.Group.CONTROL,
                timestamp=started,
                recommendation_id=recommendation_id,
            )
        )
        if not campaign.converted[row]:
            continue
        bought = started + timedelta(seconds=float(rng.uniform(60, window.total_seconds())))
        item_pk, price = products[rng.integers(len(products))]
        basket = max(Decimal(price or 0), offer.min_basket)
        events.append(
            Interaction(
                user_id=user_pk,
                item_id=item_pk,
                event_type="purchase",
                value=1.0,
                timestamp=bought,
                event_id=f"coupons-demo-{user_pk}",
                recommendation_id=recommendation_id if treated else "",
            )
        )
        if treated and offer.spent + offer.cost_per_redemption <= offer.total_budget:
            offer.spent += offer.cost_per_redemption
            redemptions.append(
                Redemption(
                    user_id=user_pk,
                    offer=offer,
                    basket_total=basket,
                    cost=offer.cost_per_redemption,
                    event_id=f"coupons-demo-{user_pk}",
                    timestamp=bought,
                    recommendation_id=recommendation_id,
                )
            )
    Assignment.objects.bulk_create(assignments)
    Interaction.objects.bulk_create(events)
    Redemption.objects.bulk_create(redemptions)
    for offer in offers:
        offer.save(update_fields=["spent"])
    mix = ", ".join(f"{int((campaign.types == i).sum())} {name}s" for i, name in enumerate(TYPES))
    stdout.write(
        f"coupons: {len(offers)} offers, {len(assignments)} people in a randomized campaign "
        f"({int(campaign.treated.sum())} given an offer; hidden types: {mix}), "
        f"{len(events)} bought within the window, {len(redemptions)} redemptions"
    )
    if ModelVersion.objects.filter(scenario="coupons").exists():
        return
    version = request_training("coupons", triggered_by="seed_demo")
    stdout.write(f"coupons: training queued as version {version.pk}")
