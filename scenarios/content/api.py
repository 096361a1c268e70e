"""Content endpoints under /api/v1/content/: the feed, related articles, and article upserts."""

from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.exceptions import BatchValidationError, flatten_errors
from catalog.ingestion import MAX_BATCH_SIZE
from catalog.models import Item
from catalog.serializers import UpsertResultSerializer, normalize_category
from catalog.views import ITEM_UPSERTER
from engine.api import ScenarioView
from engine.kinds import MAX_N, RECOMMENDATION
from engine.scenario import RecommendationRequest
from scenarios.content.articles import ARTICLE, FORMATS


class FeedQuery(serializers.Serializer):
    user_id = serializers.CharField(max_length=255)
    n = serializers.IntegerField(min_value=1, max_value=MAX_N, default=10)


class RelatedQuery(serializers.Serializer):
    item_id = serializers.CharField(
        max_length=255, help_text="A product (or an article) the shopper is looking at."
    )
    n = serializers.IntegerField(min_value=1, max_value=MAX_N, default=10)


class ArticleSerializer(serializers.Serializer):
    """One article: ``text`` is required and may not be blank; linked ``products`` must be
    product items of the catalog."""

    item_id = serializers.CharField(max_length=255)
    title = serializers.CharField(max_length=500)
    text = serializers.CharField(help_text="The article's body (any language).")
    author = serializers.CharField(max_length=200, required=False, allow_blank=True)
    published_at = serializers.DateTimeField(required=False, help_text="ISO 8601; default now.")
    products = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=100, default=list
    )
    format = serializers.ChoiceField(choices=FORMATS, default="article")
    language = serializers.CharField(max_length=16, required=False, allow_blank=True)
    category = serializers.CharField(max_length=255, required=False, allow_blank=True)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=100
    )
    is_hidden = serializers.BooleanField(required=False)

    def validate_category(self, value):
        return normalize_category(value)


class ArticleBatch(serializers.Serializer):
    articles = ArticleSerializer(many=True, help_text=f"1 to {MAX_BATCH_SIZE} articles.")


def item_fields(article: dict) -> dict:
    """The catalog item's fields of a validated article."""
    attributes = {
        "products": article["products"],
        "format": article["format"],
        **{key: article[key] for key in ("author", "language") if article.get(key)},
    }
    if article.get("published_at"):
        attributes["published_at"] = article["published_at"].isoformat()
    fields = {
        "kind": ARTICLE,
        "title": article["title"],
        "description": article["text"],
        "attributes": attributes,
    }
    fields.update(
        {key: article[key] for key in ("category", "tags", "is_hidden") if key in article}
    )
    return fields


class FeedView(ScenarioView):
    scenario_slug = "content"

    @extend_schema(
        summary="A reader's feed: fresh and relevant articles they have not read",
        description="Each item's reason says why: like an article read, read by readers of "
        "one, or new. Unknown readers get popular and new articles (cold_start: true).",
        parameters=[FeedQuery],
        responses=RECOMMENDATION,
    )
    def get(self, request):
        data = self.validated(FeedQuery, request.query_params).validated_data
        return self.answer(RecommendationRequest(user_id=data["user_id"], n=data["n"]))


class RelatedView(ScenarioView):
    scenario_slug = "content"

    @extend_schema(
        summary="Guides, reviews and articles about a product (or like an article)",
        parameters=[RelatedQuery],
        responses=RECOMMENDATION,
    )
    def get(self, request):
        data = self.validated(RelatedQuery, request.query_params).validated_data
        return self.answer(
            RecommendationRequest(item_ids=[data["item_id"]], n=data["n"], mode="related")
        )


class ArticlesView(APIView):
    """Upsert articles, all or nothing: each row is checked (text, linked products) first."""

    required_scope = "write"

    @extend_schema(
        summary="Create or update articles (catalog items of kind article)",
        request=ArticleBatch,
        responses=UpsertResultSerializer,
    )
    def post(self, request):
        body = request.data
        if not isinstance(body, dict) or set(body) != {"articles"}:
            raise BatchValidationError(
                [{"field": "", "message": 'The body must be {"articles": [...]} alone.'}]
            )
        rows = body["articles"]
        if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_BATCH_SIZE:
            raise BatchValidationError(
                [{"field": "articles", "message": f"must be a list of 1 to {MAX_BATCH_SIZE}."}]
            )
        serializer = ArticleSerializer(data=rows, many=True)
        errors = []
        if not serializer.is_valid():
            found = serializer.errors  # {row: errors}, or a list aligned with the rows
            found = found.items() if isinstance(found, dict) else enumerate(found)
            for index, detail in found:
                if detail:
                    errors += flatten_errors(detail, index=index)
        else:
            errors = self._link_errors(serializer.validated_data)
        if errors:
            raise BatchValidationError(errors)
        valid = [(a["item_id"], item_fields(a)) for a in serializer.validated_data]
        with transaction.atomic():
            created, updated = ITEM_UPSERTER.save(valid)
        return Response({"created": created, "updated": updated})

    @staticmethod
    def _link_errors(articles: list[dict]) -> list[dict]:
        """Repeated ids, and linked products the catalog does not hold as products."""
        errors, first = [], {}
        named = {p for a in articles for p in a["products"]}
        not_articles = set(
            Item.objects.filter(external_id__in=[a["item_id"] for a in articles])
            .exclude(kind=ARTICLE)
            .values_list("external_id", flat=True)
        )
        products = set(
            Item.objects.filter(external_id__in=named, kind="product").values_list(
                "external_id", flat=True
            )
        )
        for index, article in enumerate(articles):
            if article["item_id"] in first:
                errors.append(
                    {
                        "index": index,
                        "field": "item_id",
                        "message": f"repeats row {first[article['item_id']]}; send each id once.",
                    }
                )
            first.setdefault(article["item_id"], index)
            if article["item_id"] in not_articles:
                errors.append(
                    {
                        "index": index,
                        "field": "item_id",
                        "message": "names a catalog item that is not an article.",
                    }
                )
            if not article["text"].strip():
                errors.append({"index": index, "field": "text", "message": "must not be blank."})
            missing = sorted(set(article["products"]) - products)
            if missing:
                errors.append(
                    {
                        "index": index,
                        "field": "products",
                        "message": f"not product items of the catalog: {missing}",
                    }
                )
        return errors


urlpatterns = [
    path("feed", FeedView.as_view(), name="feed"),
    path("related", RelatedView.as_view(), name="related"),
    path("articles", ArticlesView.as_view(), name="articles"),
]
