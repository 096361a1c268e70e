from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from engine.api import ScenarioView
from engine.kinds import ANSWERS, CatalogUserField, RecommendationIdField, UserQuery
from engine.scenario import Kind

from .models import Offer, OfferOutcome

SLUG = "stub_offers"


class OutcomeBody(serializers.Serializer):
    recommendation_id = RecommendationIdField(SLUG)
    offer_id = serializers.CharField(max_length=64)
    user_id = CatalogUserField()
    event_type = serializers.ChoiceField(choices=OfferOutcome.Event.choices)

    def validate_offer_id(self, value):
        offer = Offer.objects.filter(offer_id=value).first()
        if offer is None:
            raise serializers.ValidationError(f"no offer {value!r}")
        return offer


class OffersView(ScenarioView):
    scenario_slug = SLUG

    @extend_schema(
        summary="Offers for a user", parameters=[UserQuery], responses=ANSWERS[Kind.USER_OFFERS]
    )
    def get(self, request):
        return self.answer(UserQuery.request_from(request.query_params))


class OutcomeView(ScenarioView):
    scenario_slug = SLUG
    required_scope = "write"

    @extend_schema(
        summary="Record that a user opened or redeemed an offer of an answer",
        request=OutcomeBody,
        responses={201: inline_serializer("StubOfferOutcome", {"id": serializers.IntegerField()})},
    )
    def post(self, request):
        body = OutcomeBody(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():
            outcome = OfferOutcome.objects.create(
                offer=data["offer_id"],
                user=data["user_id"],
                recommendation_id=data["recommendation_id"],
                event_type=data["event_type"],
            )
        return Response({"id": outcome.pk}, status=201)


urlpatterns = [
    path("offers", OffersView.as_view(), name="offers"),
    path("outcomes", OutcomeView.as_view(), name="outcomes"),
]
