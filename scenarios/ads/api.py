"""The ad server's own endpoints: serve a slot (with positions) and charge a click once."""

from decimal import Decimal

from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from catalog.models import User
from engine.api import ScenarioView
from engine.kinds import ANSWERS, MAX_N, SlotQuery
from engine.scenario import Kind, RecommendationRequest

from . import pacing
from .history import count_click
from .models import Campaign, Click, Impression

SLUG = "ads"
# The query's text fields and their SlotQuery max_length.
TEXT_FIELDS = {"slot": 100, "user_id": 255, "device": 32, "item_id": 255}
NUMBER_FIELDS = {"n": (1, MAX_N), "hour": (0, 23)}


def plain_request(params) -> RecommendationRequest | None:
    """The request of a query whose every value is plainly valid, read without SlotQuery (a
    serializer instance deep-copies its fields: about a sixth of a request here); None for
    anything else, which goes through SlotQuery, the one place that words errors. Tested to
    give what SlotQuery gives."""
    if "slot" not in params:
        return None
    values = {}
    for key in params:
        value = params.get(key)
        if key in TEXT_FIELDS:
            if not (
                value
                and len(value) <= TEXT_FIELDS[key]
                and value.isprintable()  # SlotQuery refuses NUL and surrogates
                and value == value.strip()  # SlotQuery trims
            ):
                return None
            values[key] = value
        elif key in NUMBER_FIELDS:
            low, high = NUMBER_FIELDS[key]
            if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
                return None
            values[key] = int(value)
        else:
            return None
    context = {key: values[key] for key in ("device", "item_id", "hour") if key in values}
    return RecommendationRequest(
        user_id=values.get("user_id"), n=values.get("n", 10), slot=values["slot"], context=context
    )


class ClickBody(serializers.Serializer):
    recommendation_id = serializers.CharField(max_length=64)
    ad_id = serializers.CharField(max_length=64)
    user_id = serializers.CharField(max_length=255)

    def validate(self, data):
        user = User.objects.filter(external_id=data["user_id"]).first()
        if user is None:
            raise serializers.ValidationError({"user_id": f"no user {data['user_id']!r}"})
        impression = (
            Impression.objects.filter(
                recommendation_id=data["recommendation_id"], ad__ad_id=data["ad_id"]
            )
            .select_related("ad")
            .first()
        )
        if impression is None:
            raise serializers.ValidationError(
                {"ad_id": "no impression of this ad under this recommendation_id"}
            )
        return {**data, "user": user, "impression": impression}


class ServeView(ScenarioView):
    scenario_slug = SLUG

    @extend_schema(
        summary="Ads for a slot", parameters=[SlotQuery], responses=ANSWERS[Kind.SLOT_ADS]
    )
    def get(self, request):
        params = request.query_params
        response = self.answer(plain_request(params) or SlotQuery.request_from(params))
        response.data["items"] = [
            {**item, "position": position}
            for position, item in enumerate(response.data["items"], start=1)
        ]
        return response


class ClickView(ScenarioView):
    scenario_slug = SLUG
    required_scope = "write"

    @extend_schema(
        summary="Charge a click on an ad of an answer, once",
        request=ClickBody,
        responses={
            201: inline_serializer(
                "AdsClick",
                {"charged": serializers.FloatField(), "duplicate": serializers.BooleanField()},
            )
        },
    )
    def post(self, request):
        body = ClickBody(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        impression = data["impression"]
        now = pacing.now()
        with transaction.atomic():
            campaign = Campaign.objects.select_for_update().get(pk=impression.ad.campaign_id)
            if Click.objects.filter(
                recommendation_id=data["recommendation_id"], ad=impression.ad
            ).exists():
                return Response({"charged": 0.0, "duplicate": True}, status=200)
            day = pacing.day_start(now).date()
            today = campaign.spend_on(day)
            charge = max(
                Decimal(0),
                min(
                    impression.price,
                    campaign.daily_budget - today,
                    campaign.total_budget - campaign.spent_total,
                ),
            )
            Click.objects.create(
                user=data["user"],
                ad=impression.ad,
                recommendation_id=data["recommendation_id"],
                price=charge,
                timestamp=now,
            )
            campaign.spent_total += charge
            campaign.spent_today, campaign.spend_day = today + charge, day
            campaign.save(update_fields=["spent_total", "spent_today", "spend_day"])
            count_click(data["user"].pk)
        return Response({"charged": float(charge), "duplicate": False}, status=201)


urlpatterns = [
    path("serve", ServeView.as_view(), name="serve"),
    path("click", ClickView.as_view(), name="click"),
]
