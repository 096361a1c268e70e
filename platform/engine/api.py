"""Generic REST endpoints every scenario gets, and the base view scenario APIs build on."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from engine import registry, serving
from engine.experiments import compare_outcomes
from engine.models import Experiment, ModelVersion
from engine.scenario import InvalidRequest, ItemNotFound, RecommendationRequest

MAX_N = 100
_PLAIN_QUERY = {"user_id", "n"}


class RecommendationQuery(serializers.Serializer):
    """Query parameters every user -> items call accepts."""

    user_id = serializers.CharField(max_length=255)
    n = serializers.IntegerField(min_value=1, max_value=MAX_N, default=10)
    exclude = serializers.CharField(
        required=False, allow_blank=True, help_text="Comma-separated item ids never to return."
    )
    category = serializers.CharField(required=False, max_length=255)
    min_price = serializers.DecimalField(
        required=False, max_digits=12, decimal_places=2, min_value=0
    )
    max_price = serializers.DecimalField(
        required=False, max_digits=12, decimal_places=2, min_value=0
    )

    def validate(self, attrs):
        low, high = attrs.get("min_price"), attrs.get("max_price")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"min_price": f"min_price ({low}) must not exceed max_price ({high})"}
            )
        return attrs

    @classmethod
    def request_from(cls, query_params) -> RecommendationRequest:
        """The request of a valid query; 400 naming the field otherwise.

        The common query, ``user_id`` and ``n`` alone, is read directly: a serializer instance
        deep-copies its fields and costs about a fifth of a cached recommendation. Anything
        else, or any value the direct read is unsure of, goes through the serializer, which
        stays the one place that words errors.
        """
        if set(query_params) <= _PLAIN_QUERY:
            user_id = query_params.get("user_id", "").strip()
            n = query_params.get("n", "10")
            if (
                user_id
                and len(user_id) <= 255
                and user_id.isprintable()  # the serializer refuses NUL and surrogates
                and n.isascii()
                and n.isdigit()
                and 1 <= int(n) <= MAX_N
            ):
                return RecommendationRequest(user_id=user_id, n=int(n), filters={"category": None})
        serializer = cls(data=query_params)
        serializer.is_valid(raise_exception=True)
        return serializer.to_request()

    def to_request(self) -> RecommendationRequest:
        data = self.validated_data
        filters = {"category": data.get("category")}
        for bound in ("min_price", "max_price"):
            if data.get(bound) is not None:
                filters[bound] = float(data[bound])
        return RecommendationRequest(
            user_id=data["user_id"],
            n=data["n"],
            exclude=[i.strip() for i in data.get("exclude", "").split(",") if i.strip()],
            filters=filters,
        )


RECOMMENDATION = inline_serializer(
    "Recommendation",
    {
        "recommendation_id": serializers.CharField(),
        "scenario": serializers.CharField(),
        "model_version": serializers.IntegerField(allow_null=True),
        "cold_start": serializers.BooleanField(),
        "fallback": serializers.BooleanField(),
        "items": inline_serializer(
            "RecommendedItem",
            {
                "item_id": serializers.CharField(),
                "score": serializers.FloatField(),
                "reason": serializers.CharField(),
            },
            many=True,
        ),
    },
)


def scenario_or_404(slug: str):
    """The installed scenario ``slug``, or a 404 naming the installed ones."""
    try:
        return registry.get(slug)
    except registry.UnknownScenario as error:
        raise exceptions.NotFound(str(error)) from None


class ScenarioView(APIView):
    """Runs a scenario request through the engine, mapping contract errors to 4xx."""

    scenario_slug = ""
    required_scope = "read"

    def answer(self, request: RecommendationRequest, slug: str | None = None) -> Response:
        slug = slug or self.scenario_slug
        try:
            return Response(serving.serve(slug, request))
        except ItemNotFound as error:
            raise exceptions.NotFound(str(error)) from None
        except InvalidRequest as error:
            raise exceptions.ValidationError({"detail": str(error)}) from None

    @staticmethod
    def validated(serializer_class, data) -> serializers.Serializer:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer


class ScenarioListView(APIView):
    required_scope = "read"

    @extend_schema(
        summary="List the installed scenarios and the version each one serves",
        responses=inline_serializer(
            "ScenarioList",
            {
                "results": inline_serializer(
                    "ScenarioInfo",
                    {
                        "slug": serializers.CharField(),
                        "title": serializers.CharField(),
                        "kind": serializers.CharField(),
                        "version": serializers.CharField(),
                        "model_version": serializers.IntegerField(allow_null=True),
                    },
                    many=True,
                )
            },
        ),
    )
    def get(self, request):
        promoted = dict(
            ModelVersion.objects.filter(status=ModelVersion.Status.PROMOTED).values_list(
                "scenario", "pk"
            )
        )
        return Response(
            {
                "results": [
                    {
                        "slug": s.slug,
                        "title": s.title,
                        "kind": str(s.kind),
                        "version": s.version,
                        "model_version": promoted.get(s.slug),
                    }
                    for s in registry.all_scenarios()
                ]
            }
        )


class GenericRecommendationsView(ScenarioView):
    """``GET /api/v1/scenarios/<slug>/recommendations``: any scenario, user -> items."""

    @extend_schema(
        summary="Recommendations from any installed scenario",
        parameters=[RecommendationQuery, OpenApiParameter("slug", str, "path")],
        responses=RECOMMENDATION,
    )
    def get(self, request, slug: str):
        scenario_or_404(slug)
        return self.answer(RecommendationQuery.request_from(request.query_params), slug)


ARM_RESULT = inline_serializer(
    "ArmResult",
    {
        "arm": serializers.CharField(),
        "model_version": serializers.IntegerField(),
        "impressions": serializers.IntegerField(),
        "clicks": serializers.IntegerField(),
        "conversions": serializers.IntegerField(),
        "clicked_responses": serializers.IntegerField(),
        "converted_responses": serializers.IntegerField(),
        "ctr": serializers.FloatField(),
    },
    many=True,
)
COMPARISON = inline_serializer(
    "ArmComparison",
    {
        "outcome": serializers.CharField(),
        "control_rate": serializers.FloatField(),
        "treatment_rate": serializers.FloatField(),
        "difference": serializers.FloatField(),
        "interval": serializers.ListField(
            child=serializers.FloatField(), allow_null=True, help_text="95% interval"
        ),
        "p_value": serializers.FloatField(allow_null=True),
        "verdict": serializers.CharField(),
    },
    many=True,
)
ARM_FIELDS = (
    "impressions",
    "clicks",
    "conversions",
    "clicked_responses",
    "converted_responses",
    "ctr",
)


class ExperimentResultsView(APIView):
    """``GET /api/v1/scenarios/<slug>/experiments``: what the admin shows, for dashboards."""

    required_scope = "read"

    @extend_schema(
        summary="Experiments of a scenario with per-arm results and the A/B test",
        parameters=[OpenApiParameter("slug", str, "path")],
        responses=inline_serializer(
            "ExperimentList",
            {
                "results": inline_serializer(
                    "ExperimentResult",
                    {
                        "id": serializers.IntegerField(),
                        "name": serializers.CharField(),
                        "is_active": serializers.BooleanField(),
                        "treatment_share": serializers.FloatField(),
                        "created_at": serializers.DateTimeField(),
                        "ended_at": serializers.DateTimeField(allow_null=True),
                        "arms": ARM_RESULT,
                        "comparisons": COMPARISON,
                    },
                    many=True,
                )
            },
        ),
    )
    def get(self, request, slug: str):
        scenario_or_404(slug)
        return Response(
            {"results": [experiment_result(e) for e in Experiment.objects.filter(scenario=slug)]}
        )


def experiment_result(experiment: Experiment) -> dict:
    """One experiment's arms and comparisons (as in the admin); NaN-free for JSON."""
    arms = (("control", experiment.control_id), ("treatment", experiment.treatment_id))
    stats = [serving.arm_stats(experiment.scenario, version_id, arm) for arm, version_id in arms]
    return {
        "id": experiment.pk,
        "name": experiment.name,
        "is_active": experiment.is_active,
        "treatment_share": experiment.treatment_share,
        "created_at": experiment.created_at,
        "ended_at": experiment.ended_at,
        "arms": [
            {"arm": arm, "model_version": version_id, **{k: s[k] for k in ARM_FIELDS}}
            for (arm, version_id), s in zip(arms, stats, strict=True)
        ],
        "comparisons": [
            {
                "outcome": c.outcome,
                "control_rate": c.control_rate,
                "treatment_rate": c.treatment_rate,
                "difference": c.difference,
                "interval": list(c.interval) if c.p_value is not None else None,
                "p_value": c.p_value,
                "verdict": c.verdict,
            }
            for c in compare_outcomes(*stats)
        ],
    }
