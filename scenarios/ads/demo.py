"""Demo ads: advertisers, campaigns on demo products, slots, and an impression/click log whose
clicks follow a hidden true CTR per user and ad: a per-ad base rate, a hidden per-user
propensity (which the user's past clicks reveal), raised where the user bought in the ad item's
department before, where the user's age band matches the ad's item category, by the slot and on
mobile; then a first training."""

import math
from datetime import timedelta

from django.utils import timezone

from catalog.models import Interaction, Item, User
from engine.models import ModelVersion
from engine.versions import request_training

from .history import PURCHASE, department
from .models import Ad, Advertiser, Campaign, Click, Impression, Slot

SLOTS = (("home", 3, 0.05, 0.0), ("product", 2, 0.1, 0.4), ("checkout", 1, 0.2, -0.3))


DEVICES = (("mobile", 0.3), ("desktop", 0.0))


def true_ctr(
    ad_base: float, user_bias: float, bought: bool, affinity: bool, slot_lift: float, device: float
) -> float:
    logit = ad_base + user_bias + (0.9 if bought else 0.0) + (1.2 if affinity else 0.0)
    return 1 / (1 + math.exp(-(logit + slot_lift + device)))


def seed(*, rng, stdout, scale):
    if Campaign.objects.exists():
        stdout.write("ads: campaigns exist already; not seeding again")
        return
    truth = seed_store(rng=rng, scale=scale)
    if truth is None:
        stdout.write("ads: no demo products or users yet; nothing seeded")
        return
    stdout.write(
        f"ads: {Ad.objects.count()} ads, {len(truth)} impressions, {Click.objects.count()} clicks"
    )
    if not ModelVersion.objects.filter(scenario="ads").exists():
        version = request_training("ads", triggered_by="seed_demo")
        stdout.write(f"ads: training queued as version {version.pk}")


def departments_bought(users) -> dict[int, set[str]]:
    """Each user's departments of purchase (all before the log, in the demo store)."""
    bought = {}
    rows = Interaction.objects.filter(user__in=users, event_type=PURCHASE).values_list(
        "user_id", "item__category"
    )
    for user, category in rows:
        bought.setdefault(user, set()).add(department(category))
    return bought


def seed_store(*, rng, scale, n_users=200, n_items=40) -> dict[str, float] | None:
    """Write the campaigns and the log; return each impression's true CTR by its
    recommendation id (None when there are no products or users to advertise)."""
    items = list(Item.objects.order_by("pk")[:n_items])
    users = list(User.objects.order_by("pk")[:n_users])
    if not items or not users:
        return None
    now = timezone.now()
    slots = [Slot.objects.create(name=n, positions=p, reserve_price=r) for n, p, r, _ in SLOTS]
    lifts = {slot.pk: lift for slot, (*_, lift) in zip(slots, SLOTS, strict=True)}
    ads = []
    for a in range(4):
        advertiser = Advertiser.objects.create(name=f"Demo advertiser {a + 1}")
        for c in range(3):
            campaign = Campaign.objects.create(
                advertiser=advertiser,
                name=f"Campaign {a + 1}.{c + 1}",
                start=now - timedelta(days=14),
                end=now + timedelta(days=60),
                daily_budget=50,
                total_budget=2000,
                bid_per_click=round(0.2 + rng.random(), 2),
            )
            item = items[(3 * a + c) % len(items)]
            ads.append(
                Ad.objects.create(
                    ad_id=f"demo-ad-{a}-{c}",
                    campaign=campaign,
                    creative_text=f"{item.title}: today only",
                    item=item,
                )
            )
    bases = {ad.pk: -4.0 + 1.5 * rng.random() for ad in ads}
    biases = {user.pk: 0.8 * rng.standard_normal() for user in users}
    bought = departments_bought(users)
    impressions, clicks, truth = [], [], {}
    for n in range(int(4000 * scale)):
        user, ad = users[int(rng.random() * len(users))], ads[int(rng.random() * len(ads))]
        slot = slots[int(rng.random() * len(slots))]
        device, device_lift = DEVICES[int(rng.random() * len(DEVICES))]
        affinity = (user.age_band or "x")[:1] in "12" and "phone" in ad.item.category
        rec = f"ads.demo.{n}"
        when = now - timedelta(days=13 * rng.random() + 1)
        truth[rec] = p = true_ctr(
            bases[ad.pk],
            biases[user.pk],
            department(ad.item.category) in bought.get(user.pk, ()),
            affinity,
            lifts[slot.pk],
            device_lift,
        )
        impressions.append(
            Impression(
                user=user,
                ad=ad,
                slot=slot,
                recommendation_id=rec,
                position=1,
                price=ad.campaign.bid_per_click,
                device=device,
                hour=when.hour,
                timestamp=when,
            )
        )
        if rng.random() < p:
            clicks.append(Click(user=user, ad=ad, recommendation_id=rec, price=0, timestamp=when))
    Impression.objects.bulk_create(impressions, batch_size=2000)
    Click.objects.bulk_create(clicks, batch_size=2000)
    return truth
