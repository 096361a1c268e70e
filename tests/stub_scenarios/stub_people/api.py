from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from engine.api import ScenarioView
from engine.kinds import ANSWERS, CatalogUserField, RecommendationIdField, UserQuery
from engine.scenario import Kind

from .models import Follow

SLUG = "stub_people"


class FollowBody(serializers.Serializer):
    user_id = CatalogUserField()
    followee_id = CatalogUserField()
    recommendation_id = RecommendationIdField(SLUG, required=False)

    def validate(self, attrs):
        if attrs["user_id"] == attrs["followee_id"]:
            raise serializers.ValidationError({"followee_id": "a user cannot follow themselves"})
        return attrs


class SuggestionsView(ScenarioView):
    scenario_slug = SLUG

    @extend_schema(
        summary="People for a user to follow",
        parameters=[UserQuery],
        responses=ANSWERS[Kind.USER_USERS],
    )
    def get(self, request):
        return self.answer(UserQuery.request_from(request.query_params))


class FollowView(ScenarioView):
    scenario_slug = SLUG
    required_scope = "write"

    @extend_schema(
        summary="Record that a user follows another, quoting the answer that suggested it",
        request=FollowBody,
        responses={201: inline_serializer("StubFollow", {"created": serializers.BooleanField()})},
    )
    def post(self, request):
        body = FollowBody(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():
            _, created = Follow.objects.get_or_create(
                follower=data["user_id"],
                followee=data["followee_id"],
                defaults={"recommendation_id": data.get("recommendation_id", "")},
            )
        return Response({"created": created}, status=201 if created else 200)


urlpatterns = [
    path("suggestions", SuggestionsView.as_view(), name="suggestions"),
    path("follows", FollowView.as_view(), name="follows"),
]
