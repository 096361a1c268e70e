"""Admin pages: articles (edit the text, author, publication and linked products; reads and
average dwell time per article) and the feeds shown."""

from django import forms
from django.contrib import admin
from django.db.models import Avg, Count, Q

from catalog.models import Item
from scenarios.content.articles import FORMATS
from scenarios.content.models import Article, FeedExposure

READ = Q(interactions__event_type="read")


class ArticleForm(forms.ModelForm):
    """The article's own fields; author, publication, format and products live in the
    item's ``attributes``."""

    description = forms.CharField(label="text", widget=forms.Textarea)
    author = forms.CharField(max_length=200, required=False)
    published_at = forms.DateTimeField(required=False)
    format = forms.ChoiceField(choices=[(f, f) for f in FORMATS], initial="article")
    products = forms.CharField(
        required=False, help_text="Store ids of the product items it is about, comma-separated."
    )

    class Meta:
        model = Article
        fields = ["external_id", "title", "description", "category", "tags", "is_hidden"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        attributes = self.instance.attributes or {}
        self.fields["tags"].required = False
        self.initial.setdefault("author", attributes.get("author", ""))
        self.initial.setdefault("published_at", attributes.get("published_at"))
        self.initial.setdefault("format", attributes.get("format", "article"))
        self.initial.setdefault("products", ", ".join(attributes.get("products", [])))

    def clean_description(self):
        text = self.cleaned_data["description"]
        if not text.strip():
            raise forms.ValidationError("An article needs a text.")
        return text

    def clean_products(self):
        ids = [p.strip() for p in self.cleaned_data["products"].split(",") if p.strip()]
        known = set(
            Item.objects.filter(external_id__in=ids, kind="product").values_list(
                "external_id", flat=True
            )
        )
        missing = [p for p in ids if p not in known]
        if missing:
            raise forms.ValidationError(f"Not product items of the catalog: {', '.join(missing)}")
        return ids

    def save(self, commit=True):
        article = super().save(commit=False)
        attributes = dict(article.attributes or {})
        published = self.cleaned_data.get("published_at")
        attributes.update(
            author=self.cleaned_data["author"],
            format=self.cleaned_data["format"],
            products=self.cleaned_data["products"],
            published_at=published.isoformat() if published else None,
        )
        article.attributes = {k: v for k, v in attributes.items() if v not in (None, "")}
        if commit:
            article.save()
        return article


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    form = ArticleForm
    list_display = ["external_id", "title", "author", "category", "reads", "average_dwell"]
    search_fields = ["external_id", "title", "description"]
    list_filter = ["is_hidden", "category"]
    readonly_fields = ["reads", "average_dwell"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                read_count=Count("interactions", filter=READ),
                dwell=Avg("interactions__value", filter=READ),
            )
        )

    @admin.display(description="author")
    def author(self, article):
        return (article.attributes or {}).get("author", "")

    @admin.display(description="reads", ordering="read_count")
    def reads(self, article):
        return getattr(article, "read_count", None) or 0

    @admin.display(description="average dwell (s)", ordering="dwell")
    def average_dwell(self, article):
        dwell = getattr(article, "dwell", None)
        return "-" if dwell is None else f"{dwell:.0f}"


@admin.register(FeedExposure)
class FeedExposureAdmin(admin.ModelAdmin):
    list_display = ["shown_at", "user", "recommendation_id", "item_ids"]
    raw_id_fields = ["user"]
    search_fields = ["user__external_id", "recommendation_id"]
    list_select_related = ["user"]
    show_full_result_count = False
    readonly_fields = ["user", "recommendation_id", "item_ids", "shown_at"]

    def has_add_permission(self, request):
        return False  # written by the feed endpoint only
