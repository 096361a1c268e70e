"""Admin pages: browse the catalog, tune event weights, issue and revoke API keys."""

from django import forms
from django.contrib import admin, messages

from catalog.models import ApiKey, EventType, Interaction, Item, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["external_id", "age_band", "gender", "location", "updated_at"]
    list_filter = ["age_band", "gender"]
    search_fields = ["external_id", "location"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "title", "kind", "category", "price", "in_stock", "is_hidden"]
    list_filter = ["kind", "in_stock", "is_hidden"]
    search_fields = ["external_id", "title", "category"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(EventType)
class EventTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "weight", "is_positive", "description"]
    list_editable = ["weight", "is_positive"]


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "event_type", "user", "item", "value", "recommendation_id"]
    list_filter = ["event_type"]
    raw_id_fields = ["user", "item"]
    date_hierarchy = "timestamp"
    search_fields = ["event_id", "recommendation_id", "user__external_id", "item__external_id"]
    list_select_related = ["user", "item"]
    # Counting tens of millions of rows on every page load is too slow.
    show_full_result_count = False


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in ApiKey.SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="read: GET requests; write: everything else.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "is_active"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix", "scopes", "is_active", "created_at", "last_used_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def save_model(self, request, obj, form, change):
        raw_key = None if change else obj.assign_new_key()
        super().save_model(request, obj, form, change)
        if raw_key:
            messages.warning(
                request,
                f"API key for '{obj.name}': {raw_key} (copy it now; it is stored hashed and "
                "will not be shown again).",
            )
