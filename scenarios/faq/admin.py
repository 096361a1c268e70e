"""Admin pages: edit FAQ entries; review the query log (unanswered, low-confidence and unhelpful
queries), attach a query to the entry that answers it as a training paraphrase, and chart the
answer rate, helpfulness and hand-off rate per day."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponse
from django.urls import path

from .charts import daily_png, daily_rates
from .models import FaqEntry, QueryLog

LOW_CONFIDENCE = 0.6


class FaqEntryForm(forms.ModelForm):
    """Paraphrases edited one per line rather than as a JSON list."""

    paraphrases = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        required=False,
        help_text="One way of asking per line; each is a training question.",
    )

    class Meta:
        model = FaqEntry
        fields = (
            "key",
            "language",
            "category",
            "question",
            "paraphrases",
            "answer",
            "linked_items",
            "is_active",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["paraphrases"] = "\n".join(self.instance.paraphrases)

    def clean_paraphrases(self):
        lines = (line.strip() for line in self.cleaned_data["paraphrases"].splitlines())
        return list(dict.fromkeys(line for line in lines if line))


@admin.register(FaqEntry)
class FaqEntryAdmin(admin.ModelAdmin):
    form = FaqEntryForm
    list_display = ("key", "language", "category", "question", "paraphrase_count", "is_active")
    list_filter = ("language", "category", "is_active")
    search_fields = ("key", "question", "answer")
    raw_id_fields = ("linked_items",)

    @admin.display(description="paraphrases")
    def paraphrase_count(self, obj):
        return len(obj.paraphrases)


class AttentionFilter(admin.SimpleListFilter):
    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return (
            ("unanswered", "Unanswered (handed off)"),
            ("low", f"Answered with confidence under {LOW_CONFIDENCE}"),
            ("unhelpful", "Rated not helpful"),
            ("open", "Not yet attached to an entry"),
        )

    def queryset(self, request, queryset):
        return {
            "unanswered": lambda: queryset.filter(handed_off=True),
            "low": lambda: queryset.filter(handed_off=False, confidence__lt=LOW_CONFIDENCE),
            "unhelpful": lambda: queryset.filter(helpful=False),
            "open": lambda: queryset.filter(attached=False),
        }.get(self.value(), lambda: queryset)()


@admin.register(QueryLog)
class QueryLogAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "text",
        "language",
        "chosen_entry",
        "confidence",
        "handed_off",
        "helpful",
        "label_entry",
        "attached",
    )
    list_editable = ("label_entry",)
    list_filter = (AttentionFilter, "language", "handed_off", "helpful", "attached")
    search_fields = ("text",)
    readonly_fields = ("user", "recommendation_id", "created_at", "feedback_at")
    actions = ("attach_as_paraphrase",)

    def get_urls(self):
        daily = path(
            "daily.png", self.admin_site.admin_view(self.daily_view), name="faq_querylog_daily"
        )
        return [daily, *super().get_urls()]

    def daily_view(self, request):
        return HttpResponse(daily_png(daily_rates()), content_type="image/png")

    @admin.action(description="Attach to its entry as a training paraphrase")
    def attach_as_paraphrase(self, request, queryset):
        """Each query joins the paraphrases of the entry an operator set (or, unset, the one it
        was answered with when the shopper found that helpful); the entry's save retrains."""
        attached, skipped = 0, 0
        with transaction.atomic():
            for log in queryset.select_for_update():
                entry = log.label_entry or (log.chosen_entry if log.helpful else None)
                if entry is None:
                    skipped += 1
                    continue
                entry.refresh_from_db()
                if log.text not in entry.training_texts():
                    entry.paraphrases = [*entry.paraphrases, log.text]
                    entry.save(update_fields=["paraphrases", "updated_at"])
                log.label_entry, log.attached = entry, True
                log.save(update_fields=["label_entry", "attached"])
                attached += 1
        self.message_user(request, f"{attached} queries attached as paraphrases.")
        if skipped:
            self.message_user(
                request,
                f"{skipped} skipped: set the entry that answers them first.",
                messages.WARNING,
            )
