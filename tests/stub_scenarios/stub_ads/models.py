from django.db import models
from django.utils import timezone


class Ad(models.Model):
    """An ad of a campaign, shown in one slot, landing on a catalog item (not about a person)."""

    ad_id = models.CharField(max_length=64, unique=True)
    campaign_id = models.CharField(max_length=64)
    slot = models.CharField(max_length=100, db_index=True)
    item_id = models.CharField(max_length=255, help_text="External id of the item it lands on.")
    bid = models.FloatField(help_text="The most the advertiser pays for a click.")

    def __str__(self):
        return self.ad_id


class AdClick(models.Model):
    """A user clicked an ad of an answer: the feedback this scenario learns from."""

    ad = models.ForeignKey(Ad, on_delete=models.CASCADE, related_name="clicks")
    user = models.ForeignKey("catalog.User", on_delete=models.CASCADE, related_name="+")
    recommendation_id = models.CharField(max_length=64, db_index=True)
    price = models.FloatField()
    timestamp = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.user_id} clicked {self.ad_id}"
