from django.contrib import admin
from django.db.models import Count

from .models import Ad, Advertiser, Campaign, Slot


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "spent_total", "shown", "clicked", "ctr", "budget_left")
    list_filter = ("status",)
    list_editable = ("status",)

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
