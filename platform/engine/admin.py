"""Admin pages: scenario settings (validated), model versions with metrics and training plot,
promotion and rollback actions, "train now", experiments with per-arm results."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from django.contrib import admin, messages
from django.http import FileResponse, Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from engine import attribution, dashboard, pipeline, plots, registry, versions
from engine.attribution import arm_daily, arm_stats
from engine.experiments import compare_outcomes
from engine.forms import PREFIX, has_setting_fields, settings_form_for
from engine.kinds import MAX_N
from engine.models import Experiment, ImpressionCount, ModelVersion, ScenarioConfig
from engine.routing import route_for
from engine.scenario import Kind, RecommendationRequest


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


class PlotMixin:
    """Adds ``<pk>/<plot_file>`` to an admin, named ``<app>_<model>_plot``: the PNG that
    :meth:`plot_response` gives for the object (404 when there is no such object)."""

    plot_file = "plot.png"

    def get_urls(self):
        meta = self.model._meta
        plot = path(
            f"<int:pk>/{self.plot_file}",
            self.admin_site.admin_view(self.plot_view),
            name=f"{meta.app_label}_{meta.model_name}_plot",
        )
        return [plot, *super().get_urls()]

    def plot_view(self, request, pk: int):
        obj = self.model.objects.filter(pk=pk).first()
        if obj is None:
            raise Http404(f"no such {self.model._meta.verbose_name}")
        return self.plot_response(obj)

    def plot_response(self, obj) -> HttpResponse:
        raise NotImplementedError


@admin.action(description="Train now")
def train_now(modeladmin, request, queryset):
    for slug in sorted(
        set(
            queryset.values_list(
                "scenario" if queryset.model is ModelVersion else "slug", flat=True
            )
        )
    ):
        version = versions.request_training(slug, triggered_by=f"admin:{request.user}")
        modeladmin.message_user(request, f"{slug}: training queued as version {version.pk}")


@admin.register(ScenarioConfig)
class ScenarioConfigAdmin(PlotMixin, admin.ModelAdmin):
    """One field per setting of the scenario's schema (raw JSON for a scenario whose schema
    names no properties); an empty field keeps the default. The state below shows the served
    and last versions and the held-out metric of every version so far."""

    list_display = ["slug", "title", "served_version", "last_version", "updated_at"]

    state_fields = [
        "preview_link",
        "served_version",
        "last_version",
        "versions_plot",
        "effective_settings",
        "settings_schema",
    ]
    readonly_fields = state_fields
    actions = [train_now]
    plot_file = "versions.png"

    def get_urls(self):
        preview = path(
            "<int:pk>/preview/",
            self.admin_site.admin_view(self.preview_view),
            name="engine_scenarioconfig_preview",
        )
        board = path(
            "dashboard/",
            self.admin_site.admin_view(self.dashboard_view),
            name="engine_dashboard",
        )
        activity = path(
            "dashboard/<slug:slug>/activity.png",
            self.admin_site.admin_view(self.activity_view),
            name="engine_dashboard_activity",
        )
        return [preview, board, activity, *super().get_urls()]

    def dashboard_view(self, request):
        """Every scenario on one page: served version, training queue, online activity."""
        context = {
            **self.admin_site.each_context(request),
            "cards": dashboard.dashboard_cards(timezone.now().date()),
            "days": dashboard.DAYS,
        }
        return TemplateResponse(request, "admin/engine/dashboard.html", context)

    def activity_view(self, request, slug: str):
        if slug not in {s.slug for s in registry.all_scenarios()}:
            raise Http404("no installed scenario of that name")
        today = timezone.now().date()
        days = attribution.scenario_daily(slug, today - timedelta(days=dashboard.DAYS - 1))
        png = plots.daily_activity(days, f"{slug}: the last {dashboard.DAYS} days")
        return HttpResponse(png, content_type="image/png")

    def preview_view(self, request, pk: int):
        """What the scenario answers a user, as the API would, without counting an impression."""
        config = ScenarioConfig.objects.filter(pk=pk).first()
        if not self._installed(config):
            raise Http404("no installed scenario with these settings")
        user_id = request.GET.get("user_id", "").strip()
        context = {
            **self.admin_site.each_context(request),
            "slug": config.slug,
            "change_url": reverse("admin:engine_scenarioconfig_change", args=[pk]),
            "user_id": user_id,
            "n": request.GET.get("n", "10"),
        }
        if user_id:
            context.update(self._preview(config.scenario, user_id, context["n"]))
        return TemplateResponse(request, "admin/engine/preview.html", context)

    @staticmethod
    def _preview(scenario, user_id: str, n: str) -> dict:
        from catalog.models import Interaction, Item

        if scenario.kind != Kind.USER_ITEMS:
            return {"error": f"{scenario.slug} does not map a user to items ({scenario.kind})"}
        if not n.isdigit() or not 1 <= int(n) <= MAX_N:
            return {"error": f"n must be a whole number from 1 to {MAX_N}"}
        route = route_for(scenario.slug, user_id)
        answer = pipeline.recommend(
            scenario, RecommendationRequest(user_id=user_id, n=int(n)), route.version_id
        )
        ids = [item.item_id for item in answer.items]
        titles = dict(Item.objects.filter(external_id__in=ids).values_list("external_id", "title"))
        return {
            "answer": answer,
            "arm": route.arm,
            "items": [
                {
                    "item_id": i.item_id,
                    "title": titles.get(i.item_id, ""),
                    "score": i.score,
                    "reason": i.reason,
                }
                for i in answer.items
            ],
            "history": Interaction.objects.filter(user__external_id=user_id)
            .select_related("item")
            .order_by("-timestamp", "-pk")[:20],
        }

    @admin.display(description="preview")
    def preview_link(self, obj):
        if not self._installed(obj) or obj.scenario.kind != Kind.USER_ITEMS:
            return "-"
        url = reverse("admin:engine_scenarioconfig_preview", args=[obj.pk])
        return format_html('<a href="{}">What does a user get?</a>', url)

    def plot_response(self, config):
        evaluated = ModelVersion.objects.filter(
            scenario=config.slug, primary_value__isnull=False
        ).order_by("created_at", "pk")
        points = [
            {
                "pk": v.pk,
                "algorithm": v.algorithm,
                "value": v.primary_value,
                "promoted": v.promoted_at is not None,
            }
            for v in evaluated
        ]
        metric = evaluated[0].primary_metric if points else "metric"
        png = plots.metric_by_version(points, metric, f"{config.slug}: held-out {metric}")
        return HttpResponse(png, content_type="image/png")

    @admin.display(description="versions")
    def versions_plot(self, obj):
        if (
            not obj.pk
            or not ModelVersion.objects.filter(
                scenario=obj.slug, primary_value__isnull=False
            ).exists()
        ):
            return "no evaluated version yet"
        url = reverse("admin:engine_scenarioconfig_plot", args=[obj.pk])
        return format_html('<img src="{}" alt="held-out metric of each version">', url)

    @staticmethod
    def _installed(obj) -> bool:
        """A row may outlive its scenario (a plugin uninstalled); its page must still open."""
        return obj is not None and obj.slug in {s.slug for s in registry.all_scenarios()}

    def _per_setting_form(self, obj) -> bool:
        """Whether ``obj`` gets a field per setting: its scenario is installed and its schema
        names properties (else the raw JSON field)."""
        return self._installed(obj) and has_setting_fields(obj.scenario)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if self._per_setting_form(obj):
            kwargs["form"] = settings_form_for(obj.scenario)
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["slug", "settings"]})]
        if not self._per_setting_form(obj):
            return [
                (None, {"fields": ["slug", "settings"]}),
                ("State", {"fields": self.state_fields}),
            ]
        names = [PREFIX + name for name in obj.scenario.settings_schema["properties"]]
        return [
            (None, {"fields": ["slug"]}),
            ("Settings", {"fields": names, "description": "Leave a field empty for its default."}),
            ("State", {"fields": self.state_fields}),
        ]

    def get_readonly_fields(self, request, obj=None):
        # A row's slug names its scenario; renaming it would orphan its versions.
        return [*self.readonly_fields, "slug"] if obj is not None else self.readonly_fields

    @admin.display(description="title")
    def title(self, obj):
        return obj.scenario.title if self._installed(obj) else "(not installed)"

    @admin.display(description="effective settings (defaults + overrides)")
    def effective_settings(self, obj):
        return _pretty(obj.effective()) if self._installed(obj) else "-"

    @admin.display(description="schema")
    def settings_schema(self, obj):
        return _pretty(obj.scenario.settings_schema) if self._installed(obj) else "-"

    @admin.display(description="served version")
    def served_version(self, obj):
        version = ModelVersion.promoted(obj.slug)
        return str(version) if version else "none (popularity fallback)"

    @admin.display(description="last run")
    def last_version(self, obj):
        version = ModelVersion.objects.filter(scenario=obj.slug).first()
        if version is None:
            return "never trained"
        text = f"v{version.pk} {version.status} {version.progress:.0%} {version.progress_message}"
        return f"{text} — error: {version.error.splitlines()[0]}" if version.error else text


@admin.register(ModelVersion)
class ModelVersionAdmin(PlotMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "scenario",
        "algorithm",
        "status",
        "primary_value",
        "progress_percent",
        "train_seconds",
        "created_at",
    ]
    list_filter = ["scenario", "status", "algorithm"]
    actions = ["promote_selected", "rollback_scenario", train_now]
    readonly_fields = [
        "scenario",
        "status",
        "algorithm",
        "pretty_hyperparameters",
        "pretty_data_snapshot",
        "metrics_table",
        "search_table",
        "history_plot",
        "artifact_path",
        "progress_percent",
        "progress_message",
        "promotion_note",
        "error",
        "triggered_by",
        "created_at",
        "started_at",
        "finished_at",
        "promoted_at",
        "retired_at",
        "train_seconds",
        "scored_users",
        "pretty_settings",
    ]
    exclude = [
        "hyperparameters",
        "data_snapshot",
        "metrics",
        "history",
        "search",
        "settings",
        "progress",
    ]
    plot_file = "history.png"

    def has_add_permission(self, request):
        return False  # versions come from training runs ("Train now"), never typed in

    def plot_response(self, version):
        png = versions.plot_path(version)
        if not Path(png).is_file():
            raise Http404("this version has no training plot")
        return FileResponse(open(png, "rb"), content_type="image/png")

    @admin.display(description="progress")
    def progress_percent(self, obj):
        return f"{obj.progress:.0%}"

    @admin.display(description="hyperparameters")
    def pretty_hyperparameters(self, obj):
        return _pretty(obj.hyperparameters)

    @admin.display(description="data snapshot")
    def pretty_data_snapshot(self, obj):
        return _pretty(obj.data_snapshot)

    @admin.display(description="settings used")
    def pretty_settings(self, obj):
        return _pretty(obj.settings)

    @admin.display(description="held-out metrics")
    def metrics_table(self, obj):
        """This version's offline metrics beside the promoted version's, when that is another."""
        if not obj.metrics:
            return "-"
        served = ModelVersion.promoted(obj.scenario)
        other = served if served is not None and served.pk != obj.pk else None
        names = sorted(set(obj.metrics) | set(other.metrics if other else ()))

        def cell(metrics, name):
            value = metrics.get(name)
            return f"{value:.4f}" if isinstance(value, int | float) else "-"

        header = format_html(
            "<tr><th>metric</th><th>v{}</th>{}</tr>",
            obj.pk,
            format_html("<th>v{} (promoted)</th>", other.pk) if other else "",
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td>{}</tr>",
            (
                (
                    name,
                    cell(obj.metrics, name),
                    format_html("<td>{}</td>", cell(other.metrics, name)) if other else "",
                )
                for name in names
            ),
        )
        return format_html("<table>{}{}</table>", header, rows)

    @admin.display(description="model search")
    def search_table(self, obj):
        """Every point the search tried, best first, the winner marked."""
        trials = (obj.search or {}).get("trials") or []
        if not trials:
            return "-"
        best = obj.search.get("best") or {}
        ranked = sorted(trials, key=lambda t: (t["metric"] is None, -(t["metric"] or 0.0)))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    "winner" if t == best else "",
                    t["family"],
                    json.dumps(t["params"], sort_keys=True) if t["params"] else "defaults",
                    f"{t['metric']:.4f}" if t["metric"] is not None else t["error"],
                    f"{t['seconds']:.2f}",
                    t["origin"],
                )
                for t in ranked
            ),
        )
        return format_html(
            "<p>{} points in {} s (budget {} s), {} on the validation split</p>"
            "<table><tr><th></th><th>family</th><th>hyperparameters</th><th>{}</th>"
            "<th>seconds</th><th>origin</th></tr>{}</table>",
            len(trials),
            f"{obj.search.get('seconds', 0.0):.0f}",
            f"{obj.search.get('budget_seconds', 0.0):.0f}",
            obj.search.get("metric", ""),
            obj.search.get("metric", ""),
            rows,
        )

    @admin.display(description="training history")
    def history_plot(self, obj):
        if not obj.pk or not versions.plot_path(obj).is_file():
            return "-"
        url = reverse("admin:engine_modelversion_plot", args=[obj.pk])
        return format_html('<img src="{}" alt="training history" style="max-width:600px">', url)

    @admin.action(description="Promote (serve this version)")
    def promote_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "select exactly one version to promote", messages.ERROR)
            return
        try:
            version = versions.promote(queryset.get(), note=f"promoted by {request.user}")
        except ValueError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(request, f"{version.scenario}: version {version.pk} is now served")

    @admin.action(description="Roll back the scenario to its previous version")
    def rollback_scenario(self, request, queryset):
        for slug in sorted(set(queryset.values_list("scenario", flat=True))):
            try:
                version = versions.rollback(slug)
            except ValueError as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            self.message_user(request, f"{slug}: rolled back to version {version.pk}")


@admin.register(Experiment)
class ExperimentAdmin(PlotMixin, admin.ModelAdmin):
    list_display = ["name", "scenario", "control", "treatment", "treatment_share", "is_active"]
    list_filter = ["scenario", "is_active"]
    readonly_fields = ["results", "daily_plot", "created_at", "ended_at"]
    plot_file = "daily.png"

    def plot_response(self, experiment):
        series = {
            arm: arm_daily(experiment.scenario, version_id, arm)
            for arm, version_id in self._arms(experiment)
        }
        png = plots.daily_rates(series, f"{experiment}: responses clicked per day")
        return HttpResponse(png, content_type="image/png")

    @staticmethod
    def _arms(obj) -> tuple[tuple[str, int], ...]:
        return (("control", obj.control_id), ("treatment", obj.treatment_id))

    @admin.display(description="per day")
    def daily_plot(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:engine_experiment_plot", args=[obj.pk])
        return format_html('<img src="{}" alt="responses clicked per day, per arm">', url)

    @admin.display(description="results per arm")
    def results(self, obj):
        if not obj.pk:
            return "-"
        arms = self._arms(obj)
        stats = [arm_stats(obj.scenario, version_id, arm) for arm, version_id in arms]
        rows = [
            (arm, version_id, s["impressions"], s["clicks"], s["conversions"], f"{s['ctr']:.2%}")
            for (arm, version_id), s in zip(arms, stats, strict=True)
        ]
        body = format_html_join(
            "", "<tr><td>{}</td><td>v{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
        )
        head = format_html_join(
            "",
            "<th>{}</th>",
            ((name,) for name in ("arm", "version", "impressions", "clicks", "conversions", "CTR")),
        )
        table = format_html("<table><tr>{}</tr>{}</table>", head, body)
        lines = [comparison.summary() for comparison in compare_outcomes(*stats)]
        return format_html(
            "{}<ul>{}</ul>", table, format_html_join("", "<li>{}</li>", ((line,) for line in lines))
        )


@admin.register(ImpressionCount)
class ImpressionCountAdmin(admin.ModelAdmin):
    list_display = ["day", "scenario", "model_version", "arm", "count"]
    list_filter = ["scenario", "arm"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
