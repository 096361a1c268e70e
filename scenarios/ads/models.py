from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

MONEY = {"max_digits": 12, "decimal_places": 4}


class Advertiser(models.Model):
    name = models.CharField(max_length=200, unique=True)

    def __str__(self):
        return self.name


class Campaign(models.Model):
    """Budgets and bid of a set of ads; serving reads its status live, so a pause is at once."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"
        ENDED = "ended"

    advertiser = models.ForeignKey(Advertiser, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    start = models.DateTimeField()
    end = models.DateTimeField()
    daily_budget = models.DecimalField(**MONEY)
    total_budget = models.DecimalField(**MONEY)
    bid_per_click = models.DecimalField(**MONEY)
    spent_total = models.DecimalField(default=0, **MONEY)
    # Spend of ``spend_day`` (UTC), kept beside the total under the click's row lock, so
    # pacing reads one row rather than summing the day's clicks.
    spent_today = models.DecimalField(default=0, **MONEY)
    spend_day = models.DateField(null=True, blank=True)
    target_segments = models.JSONField(default=list, blank=True, help_text="Empty: everyone.")
    target_locations = models.JSONField(default=list, blank=True, help_text="Empty: anywhere.")
    target_categories = models.JSONField(
        default=list, blank=True, help_text="Item-category prefixes of the page; empty: any."
    )

    def __str__(self):
        return self.name

    def spend_on(self, day) -> Decimal:
        """What the campaign spent on ``day`` (UTC)."""
        return self.spent_today if self.spend_day == day else Decimal(0)

    def clean(self):
        errors = {}
        if self.bid_per_click is not None and self.bid_per_click <= 0:
            errors["bid_per_click"] = "the bid must be positive"
        if self.start and self.end and self.end <= self.start:
            errors["end"] = "the end must come after the start"
        if self.total_budget is not None and self.total_budget < self.spent_total:
            errors["total_budget"] = f"below what is already spent ({self.spent_total})"
        if errors:
            raise ValidationError(errors)


class Slot(models.Model):
    name = models.CharField(max_length=100, unique=True)
    positions = models.PositiveSmallIntegerField(default=3)
    reserve_price = models.DecimalField(default=0, **MONEY)

    def __str__(self):
        return self.name


class Ad(models.Model):
    ad_id = models.CharField(max_length=64, unique=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="ads")
    creative_text = models.CharField(max_length=300)
    image_url = models.URLField(blank=True)
    item = models.ForeignKey("catalog.Item", on_delete=models.CASCADE, related_name="+")

    def __str__(self):
        return self.ad_id


class Impression(models.Model):
    """An ad shown in an answer: what a click must quote to be charged."""

    user = models.ForeignKey(
        "catalog.User", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    ad = models.ForeignKey(Ad, on_delete=models.CASCADE, related_name="impressions")
    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="+")
    recommendation_id = models.CharField(max_length=64, db_index=True)
    position = models.PositiveSmallIntegerField()
    price = models.DecimalField(**MONEY)
    device = models.CharField(max_length=32, blank=True)
    hour = models.PositiveSmallIntegerField(null=True, blank=True)
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        # The frequency cap: this user's impressions today.
        indexes = [models.Index(fields=["user", "timestamp"], name="ads_impression_user_time")]

    def __str__(self):
        return f"{self.ad_id} shown at {self.position}"


class Click(models.Model):
    user = models.ForeignKey("catalog.User", on_delete=models.CASCADE, related_name="+")
    ad = models.ForeignKey(Ad, on_delete=models.CASCADE, related_name="clicks")
    recommendation_id = models.CharField(max_length=64)
    price = models.DecimalField(**MONEY)
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recommendation_id", "ad"], name="ads_click_once")
        ]

    def __str__(self):
        return f"{self.user_id} clicked {self.ad_id}"


class UserHistory(models.Model):
    """A user's ad history and purchases, the CTR model's user-history features at serving.

    Counters move with each impression and click; purchases by department follow the catalog's
    events; every training rewrites all rows from the logs, so a bulk-loaded log is counted too.
    """

    user = models.OneToOneField("catalog.User", on_delete=models.CASCADE, related_name="ad_history")
    impressions = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    purchases = models.JSONField(default=dict, blank=True, help_text="Department: purchases.")

    def __str__(self):
        return f"{self.user_id}: {self.clicks}/{self.impressions}"


class Inventory(models.Model):
    """One row whose generation moves whenever a campaign, ad or slot is saved or deleted: each
    serving process rebuilds its in-memory candidates when it sees a new one."""

    generation = models.BigIntegerField(default=0)

    def __str__(self):
        return f"inventory generation {self.generation}"
