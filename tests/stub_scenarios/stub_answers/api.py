from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from catalog.models import User
from engine.api import ScenarioView
from engine.ids import require_recommendation_id
from engine.kinds import ANSWERS, QuestionQuery
from engine.scenario import InvalidRequest, Kind

from .models import AnswerFeedback, FaqEntry

SLUG = "stub_answers"


class FeedbackBody(serializers.Serializer):
    recommendation_id = serializers.CharField(max_length=64)
    entry_id = serializers.CharField(max_length=64)
    user_id = serializers.CharField(max_length=255)
    event_type = serializers.ChoiceField(choices=AnswerFeedback.Event.choices)

    def validate_recommendation_id(self, value):
        try:
            require_recommendation_id(SLUG, value)
        except InvalidRequest as error:
            raise serializers.ValidationError(str(error)) from None
        return value

    def validate_entry_id(self, value):
        entry = FaqEntry.objects.filter(entry_id=value).first()
        if entry is None:
            raise serializers.ValidationError(f"no FAQ entry {value!r}")
        return entry

    def validate_user_id(self, value):
        user = User.objects.filter(external_id=value).first()
        if user is None:
            raise serializers.ValidationError(f"no user {value!r}")
        return user


class AnswersView(ScenarioView):
    scenario_slug = SLUG

    @extend_schema(
        summary="FAQ answers to a question",
        parameters=[QuestionQuery],
        responses=ANSWERS[Kind.QUERY_ANSWERS],
    )
    def get(self, request):
        return self.answer(QuestionQuery.request_from(request.query_params))


class FeedbackView(ScenarioView):
    scenario_slug = SLUG
    required_scope = "write"

    @extend_schema(
        summary="Record that a user opened an answer or found it helpful",
        request=FeedbackBody,
        responses={
            201: inline_serializer("StubAnswerFeedback", {"id": serializers.IntegerField()})
        },
    )
    def post(self, request):
        body = FeedbackBody(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():
            feedback = AnswerFeedback.objects.create(
                entry=data["entry_id"],
                user=data["user_id"],
                recommendation_id=data["recommendation_id"],
                event_type=data["event_type"],
            )
        return Response({"id": feedback.pk}, status=201)


urlpatterns = [
    path("answers", AnswersView.as_view(), name="answers"),
    path("feedback", FeedbackView.as_view(), name="feedback"),
]
