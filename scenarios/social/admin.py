"""Admin pages of the follow graph, blocks and opt-outs (searchable by the store's user ids)."""

from django.contrib import admin

from scenarios.social.models import Block, Follow, OptOut


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["follower", "followee", "timestamp", "from_suggestion"]
    search_fields = ["follower__external_id", "followee__external_id", "recommendation_id"]
    raw_id_fields = ["follower", "followee"]
    date_hierarchy = "timestamp"

    @admin.display(boolean=True, description="from a suggestion")
    def from_suggestion(self, follow):
        return bool(follow.recommendation_id)


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["blocker", "blocked", "timestamp"]
    search_fields = ["blocker__external_id", "blocked__external_id"]
    raw_id_fields = ["blocker", "blocked"]


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    list_display = ["user", "timestamp"]
    search_fields = ["user__external_id"]
    raw_id_fields = ["user"]
