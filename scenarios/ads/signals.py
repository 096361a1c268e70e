"""A campaign, ad or slot saved or deleted moves the inventory's generation, so every serving
process rebuilds its candidates on its next request. Spend written by a click does not: the
serving path reads spend live for the campaigns it is about to show."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog.signals import events_ingested

from .inventory import bump_generation
from .models import Ad, Campaign, Slot

SPEND_FIELDS = frozenset({"spent_total", "spent_today", "spend_day"})


@receiver(post_save, sender=Campaign)
@receiver(post_save, sender=Ad)
@receiver(post_save, sender=Slot)
@receiver(post_delete, sender=Campaign)
@receiver(post_delete, sender=Ad)
@receiver(post_delete, sender=Slot)
def inventory_changed(sender, update_fields=None, **kwargs):
    if update_fields is not None and set(update_fields) <= SPEND_FIELDS:
        return
    bump_generation()


@receiver(events_ingested)
def purchases_changed(sender, user_ids, **kwargs):
    """New catalog events: recount those users' purchases by department (one query)."""
    from .history import refresh_purchases

    refresh_purchases(user_ids)
