"""Coupons' own tables: the offers, who was given (or held out from) which offer, and redemptions.

Assignments and redemptions are about a person, so they go with the catalog user
(``on_delete=CASCADE``); an offer's ``spent`` is the money its redemptions used, changed only
while its row is locked (:mod:`scenarios.coupons.redemption`).
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

MONEY = {"max_digits": 12, "decimal_places": 2}


class Offer(models.Model):
    """A coupon: what it gives the shopper, when and on what it applies, and what it may spend."""

    class DiscountType(models.TextChoices):
        PERCENT = "percent", "percent off the basket"
        AMOUNT = "amount", "fixed amount off the basket"
        FREE_SHIPPING = "free_shipping", "free shipping"

    offer_id = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    discount_type = models.CharField(max_length=16, choices=DiscountType.choices)
    discount_value = models.DecimalField(
        **MONEY, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    min_basket = models.DecimalField(
        **MONEY,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
        help_text="Smallest basket total the offer can be redeemed on.",
    )
    eligible_categories = models.JSONField(
        default=list,
        blank=True,
        help_text='Category paths the offer applies to, e.g. ["electronics"]; empty: all.',
    )
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True, help_text="Empty: no end.")
    cost_per_redemption = models.DecimalField(
        **MONEY,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="What one redemption costs the shop; charged to the budget.",
    )
    total_budget = models.DecimalField(**MONEY, validators=[MinValueValidator(0)])
    spent = models.DecimalField(**MONEY, default=Decimal("0"), editable=False)
    per_user_limit = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="Redemptions allowed per user."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["offer_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(spent__lte=models.F("total_budget")),
                name="coupons_offer_within_budget",
            )
        ]

    def __str__(self):
        return self.offer_id

    def clean(self):
        if self.valid_until is not None and self.valid_until <= self.valid_from:
            raise ValidationError({"valid_until": "must be after valid_from"})
        if not isinstance(self.eligible_categories, list) or not all(
            isinstance(category, str) and category for category in self.eligible_categories
        ):
            raise ValidationError({"eligible_categories": "must be a list of category paths"})

    @property
    def budget_left(self) -> Decimal:
        return self.total_budget - self.spent

    def is_valid_at(self, moment) -> bool:
        return self.valid_from <= moment and (self.valid_until is None or moment < self.valid_until)


class Assignment(models.Model):
    """An offer given to a user in an answer (treatment), or the offer a held-out user would
    have been given (control): the randomized log uplift is measured and trained on."""

    class Group(models.TextChoices):
        TREATMENT = "treatment"
        CONTROL = "control", "holdout control"

    user = models.ForeignKey(
        "catalog.User", on_delete=models.CASCADE, related_name="coupon_assignments"
    )
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="assignments")
    group = models.CharField(max_length=16, choices=Group.choices)
    timestamp = models.DateTimeField(default=timezone.now)
    recommendation_id = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["user", "offer", "group"], name="coupons_assign_lookup")]

    def __str__(self):
        return f"{self.user_id} {self.group} {self.offer_id}"


class Redemption(models.Model):
    """A coupon used on a basket: the outcome event (it quotes the answer that gave the offer)."""

    user = models.ForeignKey(
        "catalog.User", on_delete=models.CASCADE, related_name="coupon_redemptions"
    )
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="redemptions")
    basket_total = models.DecimalField(**MONEY)
    cost = models.DecimalField(**MONEY)
    event_id = models.CharField(max_length=255, unique=True)
    timestamp = models.DateTimeField(default=timezone.now)
    recommendation_id = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["offer", "user"], name="coupons_redeem_user")]

    def __str__(self):
        return f"{self.event_id}: {self.user_id} redeemed {self.offer_id}"
