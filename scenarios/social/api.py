"""Social endpoints under /api/v1/social/: suggestions, follows, blocks and opt-outs.

Writes validate everything first (both users exist, nobody follows or blocks themselves, nobody
follows across a block) and then write in one transaction. Repeating a follow, block or opt-out
changes nothing and answers 200 instead of 201.
"""

from django.db import transaction
from django.db.models import Q
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from engine.api import ScenarioView
from engine.kinds import ANSWERS, CatalogUserField, RecommendationIdField, UserQuery
from engine.scenario import Kind
from scenarios.social.models import Block, Follow, OptOut

SLUG = "social"
NOT_FOUND = inline_serializer("SocialNotFound", {"detail": serializers.CharField()})


class FollowBody(serializers.Serializer):
    follower_id = CatalogUserField()
    followee_id = CatalogUserField()
    recommendation_id = RecommendationIdField(
        SLUG, required=False, help_text="The suggestions answer that showed the followee."
    )

    def validate(self, attrs):
        follower, followee = attrs["follower_id"], attrs["followee_id"]
        if follower == followee:
            raise serializers.ValidationError({"followee_id": "a user cannot follow themselves"})
        return attrs


class FollowCreateBody(FollowBody):
    def validate(self, attrs):
        attrs = super().validate(attrs)
        follower, followee = attrs["follower_id"], attrs["followee_id"]
        if Block.objects.filter(
            Q(blocker=follower, blocked=followee) | Q(blocker=followee, blocked=follower)
        ).exists():
            raise serializers.ValidationError(
                {"followee_id": f"{follower} and {followee} are blocked: no follow between them"}
            )
        return attrs


class FollowResult(serializers.Serializer):
    follower_id = serializers.CharField()
    followee_id = serializers.CharField()
    created = serializers.BooleanField(help_text="False: the follow existed; nothing changed.")


class BlockBody(serializers.Serializer):
    blocker_id = CatalogUserField()
    blocked_id = CatalogUserField()

    def validate(self, attrs):
        if attrs["blocker_id"] == attrs["blocked_id"]:
            raise serializers.ValidationError({"blocked_id": "a user cannot block themselves"})
        return attrs


class BlockResult(serializers.Serializer):
    blocker_id = serializers.CharField()
    blocked_id = serializers.CharField()
    created = serializers.BooleanField(help_text="False: the block existed; nothing changed.")
    follows_removed = serializers.IntegerField(help_text="Follows between the two, removed.")


class OptOutBody(serializers.Serializer):
    user_id = CatalogUserField()


class OptOutResult(serializers.Serializer):
    user_id = serializers.CharField()
    opted_out = serializers.BooleanField()
    changed = serializers.BooleanField(help_text="False: it was so already.")


class SuggestionsView(ScenarioView):
    scenario_slug = SLUG

    @extend_schema(
        summary="People a user may want to follow, best first, each with a reason",
        description=(
            "Never the user, someone they follow, someone blocked either way or someone who "
            "opted out. An unknown user gets a 404."
        ),
        parameters=[UserQuery],
        responses=ANSWERS[Kind.USER_USERS],
    )
    def get(self, request):
        return self.answer(UserQuery.request_from(request.query_params))


class FollowsView(ScenarioView):
    scenario_slug = SLUG
    required_scope = "write"

    @extend_schema(
        summary="Record that a user follows another (quoting the suggestion, if one showed it)",
        request=FollowCreateBody,
        responses={
            201: FollowResult,
            200: OpenApiResponse(FollowResult, description="followed already: nothing changed"),
        },
    )
    def post(self, request):
        data = self.validated(FollowCreateBody, request.data).validated_data
        with transaction.atomic():
            _, created = Follow.objects.get_or_create(
                follower=data["follower_id"],
                followee=data["followee_id"],
                defaults={"recommendation_id": data.get("recommendation_id", "")},
            )
        body = {
            "follower_id": data["follower_id"].external_id,
            "followee_id": data["followee_id"].external_id,
            "created": created,
        }
        return Response(body, status=201 if created else 200)

    @extend_schema(
        summary="Record that a user stopped following another",
        request=FollowBody,
        responses={204: None, 404: NOT_FOUND},
    )
    def delete(self, request):
        data = self.validated(FollowBody, request.data).validated_data
        follower, followee = data["follower_id"], data["followee_id"]
        deleted, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
        if not deleted:
            return Response({"detail": f"{follower} does not follow {followee}"}, status=404)
        return Response(status=204)


class BlocksView(ScenarioView):
    scenario_slug = SLUG
    required_scope = "write"

    @extend_schema(
        summary="Block a user: neither is suggested to the other; follows between them end",
        request=BlockBody,
        responses={
            201: BlockResult,
            200: OpenApiResponse(BlockResult, description="blocked already: nothing changed"),
        },
    )
    def post(self, request):
        data = self.validated(BlockBody, request.data).validated_data
        blocker, blocked = data["blocker_id"], data["blocked_id"]
        with transaction.atomic():
            _, created = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
            removed, _ = Follow.objects.filter(
                Q(follower=blocker, followee=blocked) | Q(follower=blocked, followee=blocker)
            ).delete()
        body = {
            "blocker_id": blocker.external_id,
            "blocked_id": blocked.external_id,
            "created": created,
            "follows_removed": removed,
        }
        return Response(body, status=201 if created else 200)

    @extend_schema(summary="Lift a block", request=BlockBody, responses={204: None, 404: NOT_FOUND})
    def delete(self, request):
        data = self.validated(BlockBody, request.data).validated_data
        blocker, blocked = data["blocker_id"], data["blocked_id"]
        deleted, _ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
        if not deleted:
            return Response({"detail": f"{blocker} has not blocked {blocked}"}, status=404)
        return Response(status=204)


class OptOutView(ScenarioView):
    scenario_slug = SLUG
    required_scope = "write"

    @extend_schema(
        summary="Never suggest this user to anyone",
        request=OptOutBody,
        responses={201: OptOutResult, 200: OptOutResult},
    )
    def post(self, request):
        user = self.validated(OptOutBody, request.data).validated_data["user_id"]
        _, created = OptOut.objects.get_or_create(user=user)
        body = {"user_id": user.external_id, "opted_out": True, "changed": created}
        return Response(body, status=201 if created else 200)

    @extend_schema(
        summary="Let this user be suggested again",
        request=OptOutBody,
        responses={200: OptOutResult},
    )
    def delete(self, request):
        user = self.validated(OptOutBody, request.data).validated_data["user_id"]
        deleted, _ = OptOut.objects.filter(user=user).delete()
        return Response({"user_id": user.external_id, "opted_out": False, "changed": bool(deleted)})


urlpatterns = [
    path("suggestions", SuggestionsView.as_view(), name="suggestions"),
    path("follows", FollowsView.as_view(), name="follows"),
    path("blocks", BlocksView.as_view(), name="blocks"),
    path("opt-out", OptOutView.as_view(), name="opt-out"),
]
