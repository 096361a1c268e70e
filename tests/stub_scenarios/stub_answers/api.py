from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from engine.api import ScenarioView
from engine.kinds import ANSWERS, CatalogUserField, QuestionQuery, RecommendationIdField
from engine.scenario import Kind

from .models import AnswerFeedback, FaqEntry

SLUG = "stub_answers"


class FeedbackBody(serializers.Serializer):
    recommendation_id = RecommendationIdField(SLUG)
    entry_id = serializers.CharField(max_length=64)
    user_id = CatalogUserField()
    event_type = serializers.ChoiceField(choices=AnswerFeedback.Event.choices)

    def validate_entry_id(self, value):
        entry = FaqEntry.objects.filter(entry_id=value).first()
        if entry is None:
            raise serializers.ValidationError(f"no FAQ entry {value!r}")
        return entry


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
