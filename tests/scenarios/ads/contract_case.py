"""The engine contract's case for ads: one slot, three campaigns and a small log on the
planted store."""

from datetime import timedelta

from tests.engine.contract_cases import Case


def seed_ads():
    from django.utils import timezone

    from catalog.models import Item, User
    from scenarios.ads.models import Ad, Advertiser, Campaign, Click, Impression, Slot

    now = timezone.now()
    slot = Slot.objects.create(name="home", positions=3, reserve_price=0.05)
    advertiser = Advertiser.objects.create(name="Acme")
    ads = []
    for n, item in enumerate(("book-1", "phone-1", "phone-2")):
        campaign = Campaign.objects.create(
            advertiser=advertiser,
            name=f"c{n}",
            start=now - timedelta(days=1),
            end=now + timedelta(days=30),
            daily_budget=1000,
            total_budget=10000,
            bid_per_click=0.5 + n,
        )
        ads.append(
            Ad.objects.create(
                ad_id=f"ad-{n}",
                campaign=campaign,
                creative_text=f"Buy {item}",
                item=Item.objects.get(external_id=item),
            )
        )
    users = list(User.objects.order_by("external_id"))
    for k, user in enumerate(users):
        for j, ad in enumerate(ads):
            rec = f"seed-{k}-{j}"
            Impression.objects.create(
                user=user,
                ad=ad,
                slot=slot,
                recommendation_id=rec,
                position=1,
                price=0.1,
                timestamp=now - timedelta(days=1),
            )
            if (k + j) % 3 == 0:
                Click.objects.create(
                    user=user,
                    ad=ad,
                    recommendation_id=rec,
                    price=0.1,
                    timestamp=now - timedelta(days=1),
                )


def click(client, body, user_id):
    return client.post(
        "/api/v1/ads/click",
        {
            "recommendation_id": body["recommendation_id"],
            "ad_id": body["items"][0]["ad_id"],
            "user_id": user_id,
        },
        format="json",
    )


CASE = Case(
    query={"slot": "home", "user_id": "p1", "n": 2, "hour": 9},
    bad=[{"n": 2}, {"slot": "nowhere"}, {"slot": "home", "n": 4}, {"slot": "home", "hour": 25}],
    feedback=click,
    seed=seed_ads,
    settings={"model": "logistic"},
)
