"""Admin pages: campaigns with spend, impressions, clicks, CTR and budget left, each with a
daily chart; pausing one (list or form) stops it at once."""

from django.contrib import admin
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from .charts import daily_png, daily_stats
from .models import Ad, Advertiser, Campaign, Slot


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "status",
        "spent_total",
        "shown",
        "clicked",
        "ctr",
        "budget_left",
        "chart_link",
    )
    list_filter = ("status",)
    list_editable = ("status",)
    readonly_fields = ("spent_total", "spent_today", "spend_day", "daily_chart")

    def get_urls(self):
        daily = path(
            "<int:pk>/daily.png",
            self.admin_site.admin_view(self.daily_view),
            name="ads_campaign_daily",
        )
        return [daily, *super().get_urls()]

    def daily_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        return HttpResponse(
            daily_png(daily_stats(campaign), campaign.name), content_type="image/png"
        )

    @admin.display(description="daily")
    def chart_link(self, obj):
        return format_html(
            '<a href="{}">chart</a>', reverse("admin:ads_campaign_daily", args=[obj.pk])
        )

    @admin.display(description="spend, impressions and clicks per day")
    def daily_chart(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:ads_campaign_daily", args=[obj.pk])
        return format_html('<img src="{}" alt="Spend, impressions and clicks per day">', url)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_impressions=Count("ads__impressions", distinct=True),
                n_clicks=Count("ads__clicks", distinct=True),
            )
        )

    @admin.display(description="impressions")
    def shown(self, obj):
        return obj.n_impressions

    @admin.display(description="clicks")
    def clicked(self, obj):
        return obj.n_clicks

    @admin.display(description="CTR")
    def ctr(self, obj):
        return f"{obj.n_clicks / obj.n_impressions:.2%}" if obj.n_impressions else "-"

    @admin.display(description="budget left")
    def budget_left(self, obj):
        return obj.total_budget - obj.spent_total


admin.site.register(Advertiser)
admin.site.register(Ad)
admin.site.register(Slot)
