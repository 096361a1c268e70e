"""``manage.py generate_store``: sizes, power-law skew, determinism, refusal of a used database.

These run on the embedded default (SQLite, bulk_create); the COPY path on PostgreSQL is
tested in test_generate_store_postgres.py.
"""

from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from catalog.models import Interaction, Item, User
from scenarios.ads.inventory import current_generation
from scenarios.ads.models import Ad, Advertiser, Campaign, Slot
from scenarios.coupons.models import Offer
from scenarios.faq.models import FaqEntry
from scenarios.social.models import Follow

pytestmark = pytest.mark.django_db

END = "2026-01-31"


def generate(**options):
    out = StringIO()
    call_command(
        "generate_store", end=END, no_progress=True, stdout=out, stderr=StringIO(), **options
    )
    return out.getvalue()


def event_rows():
    return sorted(
        Interaction.objects.values_list(
            "user__external_id", "item__external_id", "event_type", "timestamp"
        )
    )


def remove_store():
    """Delete a generated store: users and items cascade to events, follows and ads."""
    for model in (User, Item, Advertiser, Slot, Offer, FaqEntry):
        model.objects.all().delete()


def test_counts_match_the_scale():
    summary = generate(scale=0.0002)  # 200 users, 20 products, 4,000 events, 400 follows

    assert User.objects.count() == 200
    assert Item.objects.filter(kind="product").count() == 20
    assert Item.objects.filter(kind="article").count() == 10
    assert Interaction.objects.count() == 4000
    assert Follow.objects.count() == 400
    assert "bulk_create" in summary and "4000 interactions" in summary
    # Every user has an event, every event is on a product, in the 90 days before --end.
    assert Interaction.objects.values("user").distinct().count() == 200
    assert not Interaction.objects.exclude(item__kind="product").exists()
    stamps = Interaction.objects.values_list("timestamp", flat=True)
    assert min(stamps).isoformat() >= "2025-11-02" and max(stamps).isoformat() < "2026-02-01"
    # Follows are distinct pairs of two different generated users.
    pairs = list(Follow.objects.values_list("follower_id", "followee_id"))
    assert len(set(pairs)) == 400 and all(a != b for a, b in pairs)
    article = Item.objects.filter(kind="article").first()
    assert article.description and article.attributes["published_at"].startswith("20")
    assert "2 ads in 1 campaigns, 0 offers, 1 FAQ entries" in summary


def test_scenario_tables_at_matching_size_are_valid_rows():
    before = current_generation()
    summary = generate(scale=0.002)  # 20 ads, 2 campaigns, 1 advertiser, 2 offers, 10 entries

    assert "20 ads in 2 campaigns, 2 offers, 10 FAQ entries" in summary
    assert (Advertiser.objects.count(), Campaign.objects.count(), Ad.objects.count()) == (1, 2, 20)
    assert set(Slot.objects.values_list("name", flat=True)) == {
        "g0-home",
        "g0-product",
        "g0-checkout",
    }
    assert current_generation() != before  # serving processes rebuild their ad book
    products = set(Item.objects.filter(kind="product").values_list("pk", flat=True))
    assert set(Ad.objects.values_list("item_id", flat=True)) <= products
    assert Ad.objects.values("campaign").distinct().count() == 2
    for campaign in Campaign.objects.all():
        campaign.full_clean()  # the admin's own checks: bid, dates, budgets
        assert campaign.end > campaign.start and campaign.bid_per_click > 0
    for offer in Offer.objects.all():
        offer.full_clean()
        assert offer.discount_type in {"percent", "amount", "free_shipping"}
    for entry in FaqEntry.objects.all():
        entry.full_clean()
        assert len(entry.training_texts()) == 3
    linked = FaqEntry.objects.filter(category="product")
    assert linked.count() == 2  # every fifth entry
    assert all(entry.linked_items.count() == 2 for entry in linked)
    assert not FaqEntry.objects.exclude(category="product").filter(linked_items__isnull=False)
    tables = (User, Item, Interaction, Follow, Advertiser, Campaign, Slot, Ad, Offer, FaqEntry)
    written = sum(model.objects.count() for model in tables)
    assert f"; {written + FaqEntry.linked_items.through.objects.count()} rows." in summary


def test_popularity_and_activity_follow_power_laws():
    generate(scale=0.001, no_scenarios=True)  # 1,000 users, 100 products, 20,000 events

    per_item = np.sort(
        np.array(
            Interaction.objects.values("item").annotate(n=Count("id")).values_list("n", flat=True)
        )
    )[::-1]
    per_user = np.sort(
        np.array(
            Interaction.objects.values("user").annotate(n=Count("id")).values_list("n", flat=True)
        )
    )[::-1]
    total = per_item.sum()
    # Zipf(1) over 100 items: the top item (1%) draws ~19% of events, the top 10 ~56%;
    # a uniform draw would give 1% and 10%.
    assert per_item[:1].sum() / total > 0.10
    assert per_item[:10].sum() / total > 0.40
    # Zipf(0.5) activity over 1,000 users: the top 1% hold ~8% of events (uniform: 1%).
    assert per_user[:10].sum() / total > 0.04
    assert per_user[-1] >= 1
    assert not Follow.objects.exists() and not Item.objects.filter(kind="article").exists()
    assert not (Ad.objects.exists() or Offer.objects.exists() or FaqEntry.objects.exists())


def test_same_seed_same_store_other_seed_another():
    generate(scale=0.0002, seed=3)
    first = event_rows()
    remove_store()
    generate(scale=0.0002, seed=3)
    again = event_rows()
    remove_store()
    generate(scale=0.0002, seed=4)
    other = [
        (u.replace("g4-", "g3-"), i.replace("g4-", "g3-"), t, s) for u, i, t, s in event_rows()
    ]

    assert len(first) == 4000
    assert first == again
    assert first != other


def test_refuses_a_database_that_holds_users_unless_append():
    User.objects.create(external_id="real-shopper")

    with pytest.raises(CommandError, match="already holds 1 users"):
        generate(scale=0.0002)
    assert User.objects.count() == 1 and not Interaction.objects.exists()

    generate(scale=0.0002, append=True)
    assert User.objects.count() == 201
    assert Interaction.objects.count() == 4000
    # A second store with the same seed would collide with the first's ids.
    with pytest.raises(CommandError, match="--seed 0 is already here"):
        generate(scale=0.0002, append=True)
    generate(scale=0.0002, append=True, seed=1)
    assert User.objects.count() == 401
    # Advertisers, slots and FAQ entries outlive the catalog's rows: their keys carry the seed too.
    User.objects.all().delete()
    Item.objects.all().delete()
    with pytest.raises(CommandError, match="--seed 1 is already here"):
        generate(scale=0.0002, seed=1)


def test_bad_options_are_refused():
    with pytest.raises(CommandError, match="--scale"):
        generate(scale=0)
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("generate_store", end="31/01/2026", no_progress=True, stdout=StringIO())
