"""Products endpoints under /api/v1/products/: recommendations, similar, basket, trending."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from engine.api import ScenarioView
from engine.kinds import MAX_N, RECOMMENDATION, RecommendationQuery
from engine.scenario import RecommendationRequest
from scenarios.products.scenario import TRENDING_WINDOWS


class SimilarQuery(serializers.Serializer):
    item_id = serializers.CharField(max_length=255)
    n = serializers.IntegerField(min_value=1, max_value=MAX_N, default=10)


class BasketBody(serializers.Serializer):
    item_ids = serializers.ListField(
        child=serializers.CharField(max_length=255), min_length=1, max_length=100
    )
    n = serializers.IntegerField(min_value=1, max_value=MAX_N, default=10)
    exclude = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, default=list
    )


class TrendingQuery(serializers.Serializer):
    window = serializers.ChoiceField(choices=sorted(TRENDING_WINDOWS), default="week")
    n = serializers.IntegerField(min_value=1, max_value=MAX_N, default=10)
    category = serializers.CharField(required=False, max_length=255)


class ProductsView(ScenarioView):
    scenario_slug = "products"


class RecommendationsView(ProductsView):
    @extend_schema(
        summary="Products for a user",
        description="Unknown users get segment or overall popular items (cold_start: true).",
        parameters=[RecommendationQuery],
        responses=RECOMMENDATION,
    )
    def get(self, request):
        return self.answer(RecommendationQuery.request_from(request.query_params))


class SimilarView(ProductsView):
    @extend_schema(
        summary="Items similar to an item", parameters=[SimilarQuery], responses=RECOMMENDATION
    )
    def get(self, request):
        data = self.validated(SimilarQuery, request.query_params).validated_data
        return self.answer(
            RecommendationRequest(item_ids=[data["item_id"]], n=data["n"], mode="similar")
        )


class BasketView(ProductsView):
    """A POST that only reads, so it needs the read scope."""

    @extend_schema(
        summary="Items frequently bought with a basket",
        request=BasketBody,
        responses=RECOMMENDATION,
    )
    def post(self, request):
        data = self.validated(BasketBody, request.data).validated_data
        return self.answer(
            RecommendationRequest(
                item_ids=data["item_ids"], n=data["n"], exclude=data["exclude"], mode="basket"
            )
        )


class TrendingView(ProductsView):
    @extend_schema(
        summary="Items trending in a time window",
        parameters=[TrendingQuery],
        responses=RECOMMENDATION,
    )
    def get(self, request):
        data = self.validated(TrendingQuery, request.query_params).validated_data
        filters = {"window": data["window"], "category": data.get("category")}
        return self.answer(RecommendationRequest(n=data["n"], filters=filters, mode="trending"))


urlpatterns = [
    path("recommendations", RecommendationsView.as_view(), name="recommendations"),
    path("similar", SimilarView.as_view(), name="similar"),
    path("basket", BasketView.as_view(), name="basket"),
    path("trending", TrendingView.as_view(), name="trending"),
]
