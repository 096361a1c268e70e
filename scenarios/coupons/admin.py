"""Admin pages: offers with what each achieved (issued, redeemed, money, measured uplift)."""

import math

from django.contrib import admin

from scenarios.coupons.models import Assignment, Offer, Redemption
from scenarios.coupons.stats import offer_stats


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = [
        "offer_id",
        "title",
        "is_active",
        "valid_until",
        "issued",
        "redeemed",
        "spent",
        "budget_left",
        "incremental_conversion",
    ]
    list_filter = ["is_active", "discount_type"]
    search_fields = ["offer_id", "title"]
    readonly_fields = [
        "spent",
        "created_at",
        "issued",
        "redeemed",
        "budget_left",
        "incremental_conversion",
    ]

    def _stats(self, offer):
        cache = getattr(self, "_stats_cache", None)
        if cache is None or cache[0] is not offer:
            self._stats_cache = (offer, offer_stats(offer))
        return self._stats_cache[1]

    @admin.display(description="issued (people)")
    def issued(self, offer):
        stats = self._stats(offer)
        return f"{stats.issued} (+{stats.held_out} held out)"

    @admin.display(description="redeemed")
    def redeemed(self, offer):
        return self._stats(offer).redeemed

    @admin.display(description="budget left")
    def budget_left(self, offer):
        return offer.budget_left

    @admin.display(description="incremental conversion vs holdout (95% interval)")
    def incremental_conversion(self, offer):
        comparison = self._stats(offer).incremental
        if comparison.p_value is None or math.isnan(comparison.interval[0]):
            return f"{100 * comparison.difference:+.1f} points; {comparison.verdict}"
        low, high = comparison.interval
        return (
            f"{100 * comparison.difference:+.1f} points "
            f"[{100 * low:+.1f}, {100 * high:+.1f}], p = {comparison.p_value:.3g}"
        )


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "user", "offer", "group", "recommendation_id"]
    list_filter = ["group", "offer"]
    raw_id_fields = ["user"]
    search_fields = ["user__external_id", "recommendation_id"]
    list_select_related = ["user", "offer"]
    show_full_result_count = False


@admin.register(Redemption)
class RedemptionAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "event_id", "user", "offer", "basket_total", "cost"]
    list_filter = ["offer"]
    raw_id_fields = ["user"]
    search_fields = ["event_id", "user__external_id", "recommendation_id"]
    list_select_related = ["user", "offer"]
    readonly_fields = [f.name for f in Redemption._meta.fields]

    def has_add_permission(self, request):
        return False  # a redemption spends budget: only POST /api/v1/coupons/redeem makes one
