"""FAQ endpoints under /api/v1/faq/: answer a shopper's question, and record whether it helped."""

from django.db import transaction
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from catalog.views import ERRORS
from engine import serving
from engine.api import ScenarioView
from engine.ids import require_recommendation_id
from engine.kinds import MAX_N, MAX_QUERY_LENGTH
from engine.scenario import InvalidRequest, RecommendationRequest

from .models import QueryLog
from .scenario import LANGUAGES, SLUG


class AnswerBody(serializers.Serializer):
    query = serializers.CharField(max_length=MAX_QUERY_LENGTH, help_text="The shopper's question.")
    user_id = serializers.CharField(max_length=255, help_text="The shopper (may be new to us).")
    language = serializers.ChoiceField(
        choices=LANGUAGES, required=False, help_text="Read from the script when absent."
    )
    n = serializers.IntegerField(min_value=1, max_value=MAX_N, default=3)


FAQ_ANSWER = inline_serializer(
    "FaqAnswer",
    {
        "recommendation_id": serializers.CharField(help_text="Quote it in /faq/feedback."),
        "answers": inline_serializer(
            "FaqAnswerItem",
            {
                "faq_id": serializers.CharField(),
                "question": serializers.CharField(),
                "answer": serializers.CharField(),
                "score": serializers.FloatField(help_text="Probability this entry answers it."),
            },
            many=True,
        ),
        "handoff": serializers.BooleanField(
            help_text="True: not sure enough; route the shopper to a person (best guesses above)."
        ),
        "language": serializers.CharField(help_text="en, zh, or other (unsupported script)."),
        "confidence": serializers.FloatField(),
        "model_version": serializers.IntegerField(allow_null=True),
        "fallback": serializers.BooleanField(),
    },
)


class AnswerView(ScenarioView):
    """A POST that only reads the FAQ (it logs the question), so it needs the read scope."""

    scenario_slug = SLUG

    @extend_schema(
        summary="Answer a shopper's question from the FAQ, or hand it to a person",
        description=(
            "Ranks the FAQ entries of the query's language (given, or read from its script) "
            "and lists the best; under the admin's confidence threshold, or for a script the "
            "FAQ does not cover, it answers handoff true (still listing its best guesses). "
            "Empty, over-long or binary queries are a 400. Needs the read scope: it only logs "
            "the question."
        ),
        request=AnswerBody,
        responses={200: FAQ_ANSWER, **ERRORS},
    )
    def post(self, request):
        data = self.validated(AnswerBody, request.data).validated_data
        context = {"language": data["language"]} if "language" in data else {}
        asked = RecommendationRequest(
            user_id=data["user_id"], n=data["n"], query=data["query"], context=context
        )
        try:
            body = serving.serve(SLUG, asked)
        except InvalidRequest as error:
            raise exceptions.ValidationError({"query": str(error)}) from None
        return Response(
            {
                "recommendation_id": body["recommendation_id"],
                "answers": [{key: item[old] for key, old in FIELDS} for item in body["items"]],
                "handoff": body["handoff"],
                "language": body["language"],
                "confidence": body["confidence"],
                "model_version": body["model_version"],
                "fallback": body["fallback"],
            }
        )


FIELDS = (
    ("faq_id", "entry_id"),
    ("question", "question"),
    ("answer", "answer"),
    ("score", "score"),
)


FEEDBACK = inline_serializer(
    "FaqFeedback",
    {
        "recommendation_id": serializers.CharField(),
        "helpful": serializers.BooleanField(),
        "faq_id": serializers.CharField(allow_null=True),
    },
)


class FeedbackBody(serializers.Serializer):
    recommendation_id = serializers.CharField(max_length=64)
    helpful = serializers.BooleanField()

    def validate_recommendation_id(self, value):
        try:
            require_recommendation_id(SLUG, value)
        except InvalidRequest as error:
            raise serializers.ValidationError(str(error)) from None
        if not QueryLog.objects.filter(recommendation_id=value).exists():
            raise serializers.ValidationError(f"no FAQ answer was given as {value!r}")
        return value


class FeedbackView(ScenarioView):
    """Whether the answer quoted by its recommendation_id helped; a later rating replaces an
    earlier one."""

    scenario_slug = SLUG
    required_scope = "write"

    @extend_schema(
        summary="Record whether an answer helped (a later rating replaces an earlier one)",
        request=FeedbackBody,
        responses={200: FEEDBACK, **ERRORS},
    )
    def post(self, request):
        data = self.validated(FeedbackBody, request.data).validated_data
        with transaction.atomic():
            log = QueryLog.objects.select_for_update().get(
                recommendation_id=data["recommendation_id"]
            )
            log.helpful, log.feedback_at = data["helpful"], timezone.now()
            log.save(update_fields=["helpful", "feedback_at"])
        return Response(
            {
                "recommendation_id": log.recommendation_id,
                "helpful": log.helpful,
                "faq_id": log.chosen_entry.key if log.chosen_entry else None,
            }
        )


urlpatterns = [
    path("answer", AnswerView.as_view(), name="answer"),
    path("feedback", FeedbackView.as_view(), name="feedback"),
]
