"""Generic REST endpoints every scenario gets, and the base view scenario APIs build on."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from engine import registry, serving
from engine.attribution import arm_stats
from engine.experiments import compare_outcomes
from engine.kinds import ANSWERS, QUERIES
from engine.models import Experiment, ModelVersion
from engine.scenario import InvalidRequest, ItemNotFound, RecommendationRequest


def _generic_parameters() -> list[OpenApiParameter]:
    """Every kind's query parameters, each optional here: which apply depends on the kind."""
    fields: dict[str, serializers.Field] = {}
    kinds: dict[str, list[str]] = {}
    for kind, query in QUERIES.items():
        for name, field in query().fields.items():
            fields.setdefault(name, field)
            kinds.setdefault(name, []).append(str(kind))
    return [OpenApiParameter("slug", str, "path")] + [
        OpenApiParameter(
            name,
            int if isinstance(field, serializers.IntegerField) else str,
            description=f"{field.help_text or ''} Read by: {', '.join(kinds[name])}.".strip(),
        )
        for name, field in fields.items()
    ]


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
    """``GET /api/v1/scenarios/<slug>/recommendations``: any scenario, with its kind's query."""

    @extend_schema(
        summary="Answers from any installed scenario, in the shape of its kind",
        description=(
            "The query parameters a scenario reads depend on its kind (GET /api/v1/scenarios "
            "lists each scenario's kind): user_items reads user_id and the filters, item_items "
            "item_id, basket_items item_ids, slot_ads slot (and user_id, device, item_id, "
            "hour), user_offers and user_users user_id, query_answers query (and user_id, "
            "language)."
        ),
        parameters=_generic_parameters(),
        responses=PolymorphicProxySerializer(
            component_name="KindAnswer",
            serializers=list(dict.fromkeys(ANSWERS.values())),
            resource_type_field_name=None,
        ),
    )
    def get(self, request, slug: str):
        scenario = scenario_or_404(slug)
        return self.answer(QUERIES[scenario.kind].request_from(request.query_params), slug)


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
    stats = [arm_stats(experiment.scenario, version_id, arm) for arm, version_id in arms]
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
