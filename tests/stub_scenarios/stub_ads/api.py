from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from engine.api import ScenarioView
from engine.kinds import ANSWERS, CatalogUserField, RecommendationIdField, SlotQuery
from engine.scenario import Kind

from .models import Ad, AdClick

SLUG = "stub_ads"


class ClickBody(serializers.Serializer):
    recommendation_id = RecommendationIdField(SLUG)
    ad_id = serializers.CharField(max_length=64)
    user_id = CatalogUserField()

    def validate_ad_id(self, value):
        ad = Ad.objects.filter(ad_id=value).first()
        if ad is None:
            raise serializers.ValidationError(f"no ad {value!r}")
        return ad


class SlotView(ScenarioView):
    scenario_slug = SLUG

    @extend_schema(
        summary="Ads for a slot", parameters=[SlotQuery], responses=ANSWERS[Kind.SLOT_ADS]
    )
    def get(self, request):
        return self.answer(SlotQuery.request_from(request.query_params))


class ClickView(ScenarioView):
    scenario_slug = SLUG
    required_scope = "write"

    @extend_schema(
        summary="Record a click on an ad of an answer",
        request=ClickBody,
        responses={201: inline_serializer("StubAdClick", {"price": serializers.FloatField()})},
    )
    def post(self, request):
        body = ClickBody(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():
            click = AdClick.objects.create(
                ad=data["ad_id"],
                user=data["user_id"],
                recommendation_id=data["recommendation_id"],
                price=data["ad_id"].bid,
            )
        return Response({"price": click.price}, status=201)


urlpatterns = [
    path("slot", SlotView.as_view(), name="slot"),
    path("clicks", ClickView.as_view(), name="clicks"),
]
