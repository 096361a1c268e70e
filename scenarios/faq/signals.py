"""Entries changed (saved or deleted): queue a retraining, debounced. Linked items are read
when answering, so linking one needs no retraining."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import FaqEntry

SLUG = "faq"


def request_retraining() -> None:
    """Queue a version unless one is queued already: every change until it starts is read by
    that run (it reads the entries when it trains), so a burst of edits trains once."""
    from engine.models import ModelVersion, ScenarioConfig
    from engine.versions import request_training

    if not ScenarioConfig.for_slug(SLUG).effective().get("retrain_on_change", True):
        return
    queued = ModelVersion.objects.filter(scenario=SLUG, status=ModelVersion.Status.QUEUED)
    if not queued.exists():
        request_training(SLUG, triggered_by="faq entries changed")


@receiver(post_save, sender=FaqEntry)
@receiver(post_delete, sender=FaqEntry)
def entry_changed(sender, raw=False, **kwargs):
    if not raw:  # loaddata: the fixtures' trainer decides
        request_retraining()
