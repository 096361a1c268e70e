"""``manage.py generate_store`` on PostgreSQL: the COPY path writes the same shape of store."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from catalog.models import Interaction, Item, User
from scenarios.ads.models import Ad, Campaign, Slot
from scenarios.coupons.models import Offer
from scenarios.faq.models import FaqEntry
from scenarios.social.models import Follow

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs DATABASE_URL pointing at PostgreSQL (make test-integration)",
    ),
]


def test_copy_path_loads_every_table_with_the_skew(db):
    out = StringIO()
    call_command(
        "generate_store",
        scale=0.001,
        end="2026-01-31",
        batch_size=3000,  # several COPY transactions for the 20,000 events
        no_progress=True,
        stdout=out,
    )

    assert "COPY" in out.getvalue()
    assert User.objects.count() == 1000
    assert Item.objects.filter(kind="product").count() == 100
    assert Item.objects.filter(kind="article", description__gt="").count() == 50
    assert Interaction.objects.count() == 20000
    assert Follow.objects.count() == 2000
    assert Interaction.objects.values("user").distinct().count() == 1000
    top = (
        Interaction.objects.values("item")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("n", flat=True)
    )
    assert top[0] / 20000 > 0.10  # the top 1% of 100 products (uniform would be 1%)
    stamps = Interaction.objects.values_list("timestamp", flat=True)
    assert min(stamps).isoformat() >= "2025-11-02" and max(stamps).isoformat() < "2026-02-01"
    product = Item.objects.filter(kind="product").first()
    assert product.price is not None and product.category.count("/") == 1
    # The scenarios' own rows, through the same COPY: 10 ads, 1 campaign, 1 offer, 5 entries.
    assert (Ad.objects.count(), Campaign.objects.count(), Slot.objects.count()) == (10, 1, 3)
    assert (Offer.objects.count(), FaqEntry.objects.count()) == (1, 5)
    for row in [*Campaign.objects.all(), *Ad.objects.all(), *Offer.objects.all()]:
        row.full_clean()  # decimals, dates and JSON lists read back as the admin would save them
    for entry in FaqEntry.objects.all():
        entry.full_clean()
        assert isinstance(entry.paraphrases, list) and len(entry.training_texts()) == 3
    assert FaqEntry.objects.get(category="product").linked_items.count() == 2
    assert Campaign.objects.get().end > Campaign.objects.get().start
