"""Demo ads: advertisers, campaigns on demo products, slots, and an impression/click log whose
clicks follow a hidden true CTR (a per-ad base rate, raised where the user's age band matches
the ad's item category, and by the slot), then a first training."""

import math
from datetime import timedelta

from django.utils import timezone

from catalog.models import Item, User
from engine.models import ModelVersion
from engine.versions import request_training

from .models import Ad, Advertiser, Campaign, Click, Impression, Slot

SLOTS = (("home", 3, 0.05, 0.0), ("product", 2, 0.1, 0.4), ("checkout", 1, 0.2, -0.3))


def true_ctr(ad_base: float, affinity: bool, slot_lift: float) -> float:
    return 1 / (1 + math.exp(-(ad_base + (1.2 if affinity else 0.0) + slot_lift)))


def seed(*, rng, stdout, scale):
    if Campaign.objects.exists():
        stdout.write("ads: campaigns exist already; not seeding again")
        return
    items, users = list(Item.objects.order_by("pk")[:40]), list(User.objects.order_by("pk")[:200])
    if not items or not users:
        stdout.write("ads: no demo products or users yet; nothing seeded")
        return
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
    impressions, clicks = [], []
    for n in range(int(4000 * scale)):
        user, ad = users[int(rng.random() * len(users))], ads[int(rng.random() * len(ads))]
        slot = slots[int(rng.random() * len(slots))]
        affinity = (user.age_band or "x")[:1] in "12" and "phone" in ad.item.category
        rec = f"ads.demo.{n}"
        when = now - timedelta(days=13 * rng.random() + 1)
        impressions.append(
            Impression(
                user=user,
                ad=ad,
                slot=slot,
                recommendation_id=rec,
                position=1,
                price=ad.campaign.bid_per_click,
                hour=when.hour,
                timestamp=when,
            )
        )
        if rng.random() < true_ctr(bases[ad.pk], affinity, lifts[slot.pk]):
            clicks.append(Click(user=user, ad=ad, recommendation_id=rec, price=0, timestamp=when))
    Impression.objects.bulk_create(impressions)
    Click.objects.bulk_create(clicks)
    stdout.write(f"ads: {len(ads)} ads, {len(impressions)} impressions, {len(clicks)} clicks")
    if not ModelVersion.objects.filter(scenario="ads").exists():
        version = request_training("ads", triggered_by="seed_demo")
        stdout.write(f"ads: training queued as version {version.pk}")
