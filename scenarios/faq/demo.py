"""``manage.py seed_demo`` hook: the demo FAQ in English and Chinese, and a first model queued.

The entries are :data:`scenarios.faq.demo_data.ENTRIES`; their held-out paraphrases stay in
that module (never stored) as test queries. Product entries link the demo store's products
of their category, so a shopper who bought one gets that entry first among close answers.
"""

from catalog.models import Item
from engine.models import ModelVersion
from engine.versions import request_training

from .demo_data import ENTRIES
from .models import FaqEntry


def seed(*, rng, stdout, scale):
    """Fixed content: ``rng`` and ``scale`` change nothing (the FAQ is not sampled)."""
    if FaqEntry.objects.exists():
        stdout.write("faq: entries exist already; no demo FAQ added")
        return
    # bulk_create sends no post_save: one training is queued below, not one per entry
    made = FaqEntry.objects.bulk_create(
        FaqEntry(
            key=entry.key,
            language=entry.language,
            category=entry.category,
            question=entry.question,
            paraphrases=list(entry.paraphrases),
            answer=entry.answer,
        )
        for entry in ENTRIES
    )
    links = []
    for entry, row in zip(ENTRIES, made, strict=True):
        if entry.linked_category:
            items = Item.objects.filter(kind="product", category=entry.linked_category)
            links += [
                FaqEntry.linked_items.through(faqentry_id=row.pk, item_id=pk)
                for pk in items.values_list("pk", flat=True)
            ]
    FaqEntry.linked_items.through.objects.bulk_create(links)
    by_language = {lang: sum(e.language == lang for e in ENTRIES) for lang in ("en", "zh")}
    stdout.write(
        f"faq: {len(made)} entries ({by_language['en']} English, {by_language['zh']} Chinese), "
        f"{len(links)} links to products"
    )
    if ModelVersion.objects.filter(scenario="faq").exists():
        return
    version = request_training("faq", triggered_by="seed_demo")
    stdout.write(f"faq: training queued as version {version.pk}")
