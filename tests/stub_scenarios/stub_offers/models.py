from django.db import models
from django.utils import timezone


class Offer(models.Model):
    """A coupon offer (not about a person)."""

    offer_id = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    discount = models.FloatField(help_text="Share off the price, 0-1.")

    def __str__(self):
        return self.offer_id


class OfferOutcome(models.Model):
    """What a user did with an offer of an answer: opened it, or redeemed it."""

    class Event(models.TextChoices):
        CLICK = "offer_click"
        REDEMPTION = "redemption"

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="outcomes")
    user = models.ForeignKey("catalog.User", on_delete=models.CASCADE, related_name="+")
    recommendation_id = models.CharField(max_length=64, db_index=True)
    event_type = models.CharField(max_length=16, choices=Event.choices)
    timestamp = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.user_id} {self.event_type} {self.offer_id}"
