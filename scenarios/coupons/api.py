"""Coupons endpoints under /api/v1/coupons/: offers for a user, and redeeming one."""

import copy

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from engine.api import ScenarioView
from engine.kinds import OFFER, UserQuery
from scenarios.coupons.models import MONEY
from scenarios.coupons.redemption import RedemptionRefused, redeem

# The user -> offers envelope (engine.kinds.ANSWERS[Kind.USER_OFFERS]) plus the holdout flag.
OFFER_ANSWER = inline_serializer(
    "CouponOfferList",
    {
        "recommendation_id": serializers.CharField(),
        "scenario": serializers.CharField(),
        "model_version": serializers.IntegerField(allow_null=True),
        "cold_start": serializers.BooleanField(),
        "fallback": serializers.BooleanField(),
        "experiment_arm": serializers.CharField(required=False),
        "items": inline_serializer("CouponOffer", copy.deepcopy(OFFER), many=True),
        "holdout": serializers.BooleanField(
            help_text="True: the user is in the holdout group and gets no offer."
        ),
    },
)
REFUSAL = inline_serializer(
    "RedemptionRefusal",
    {
        "detail": serializers.CharField(),
        "rule": serializers.CharField(help_text="The rule that refused the redemption."),
    },
)


class RedeemBody(serializers.Serializer):
    user_id = serializers.CharField(max_length=255)
    offer_id = serializers.CharField(max_length=64)
    basket_total = serializers.DecimalField(**MONEY, min_value=0)
    event_id = serializers.CharField(
        max_length=255, help_text="Your id of this redemption: a retry with it charges nothing."
    )
    recommendation_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="The answer that gave the offer; the latest one given is quoted when absent.",
    )
    categories = serializers.ListField(
        child=serializers.CharField(max_length=255),
        required=False,
        help_text="Categories of the basket's items, checked against the offer's.",
    )


class RedeemResult(serializers.Serializer):
    event_id = serializers.CharField()
    user_id = serializers.CharField()
    offer_id = serializers.CharField()
    basket_total = serializers.DecimalField(**MONEY)
    cost = serializers.DecimalField(**MONEY)
    budget_left = serializers.DecimalField(**MONEY)
    recommendation_id = serializers.CharField()
    replayed = serializers.BooleanField(help_text="True: recorded before, nothing charged now.")


class OffersView(ScenarioView):
    scenario_slug = "coupons"

    @extend_schema(
        summary="Offers for a user, best incremental gain per cost first",
        description=(
            "Unknown users get a 404. A held-out user (a configurable share, fixed per user) "
            "gets no offer and holdout: true."
        ),
        parameters=[UserQuery],
        responses=OFFER_ANSWER,
    )
    def get(self, request):
        return self.answer(UserQuery.request_from(request.query_params))


class RedeemView(ScenarioView):
    scenario_slug = "coupons"
    required_scope = "write"

    @extend_schema(
        summary="Redeem an offer given to a user",
        description=(
            "Checks the offer is valid now, was given to the user, the basket reaches its "
            "minimum, the user is under the per-user limit and the budget covers it, then "
            "charges the budget; idempotent by event_id."
        ),
        request=RedeemBody,
        responses={
            201: RedeemResult,
            200: OpenApiResponse(RedeemResult, description="event_id seen before: replayed"),
            404: REFUSAL,
            409: REFUSAL,
            422: REFUSAL,
        },
    )
    def post(self, request):
        data = self.validated(RedeemBody, request.data).validated_data
        try:
            outcome = redeem(**data)
        except RedemptionRefused as refusal:
            return Response({"detail": refusal.message, "rule": refusal.rule}, refusal.status)
        redemption = outcome.redemption
        body = {
            "event_id": redemption.event_id,
            "user_id": data["user_id"],
            "offer_id": data["offer_id"],
            "basket_total": redemption.basket_total,
            "cost": redemption.cost,
            "budget_left": outcome.budget_left,
            "recommendation_id": redemption.recommendation_id,
            "replayed": outcome.replayed,
        }
        return Response(RedeemResult(body).data, status=200 if outcome.replayed else 201)


urlpatterns = [
    path("offers", OffersView.as_view(), name="offers"),
    path("redeem", RedeemView.as_view(), name="redeem"),
]
