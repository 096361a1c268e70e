"""Tables every scenario shares: its settings, its model versions, experiments, impression counts."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from engine import registry


class ScenarioConfig(models.Model):
    """The operator's settings for one scenario; validated against its schema before saving."""

    slug = models.SlugField(max_length=20, unique=True)
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="Overrides of the scenario's default settings; validated against its schema.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "scenario settings"
        verbose_name_plural = "scenario settings"

    def __str__(self):
        return self.slug

    def save(self, *args, **kwargs):
        """Always validate, so no code path (admin, shell, API) stores a bad value."""
        self.full_clean()
        super().save(*args, **kwargs)

    @property
    def scenario(self):
        return registry.get(self.slug)

    def effective(self) -> dict:
        return self.scenario.effective_settings(self.settings)

    def clean(self):
        try:
            scenario = registry.get(self.slug)
        except registry.UnknownScenario as error:
            raise ValidationError({"slug": str(error)}) from None
        if not isinstance(self.settings, dict):
            raise ValidationError({"settings": "settings must be a JSON object"})
        errors = scenario.validate_settings(scenario.effective_settings(self.settings))
        if errors:
            raise ValidationError({"settings": errors})

    @classmethod
    def for_slug(cls, slug: str) -> ScenarioConfig:
        config = cls.objects.filter(slug=slug).first()
        return config or cls(slug=slug, settings={})


class ModelVersion(models.Model):
    """One training run of one scenario and, if it succeeded, the model it produced."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FAILED = "failed"
        SUCCEEDED = "succeeded"
        PROMOTED = "promoted"
        RETIRED = "retired"

    FINAL = (Status.FAILED, Status.SUCCEEDED, Status.PROMOTED, Status.RETIRED)

    scenario = models.SlugField(max_length=20, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    algorithm = models.CharField(max_length=64)
    hyperparameters = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True, help_text="Scenario settings used.")
    data_snapshot = models.JSONField(
        default=dict, blank=True, help_text="Users, items, events and time range trained on."
    )
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out split metrics.")
    primary_metric = models.CharField(max_length=32, blank=True)
    primary_value = models.FloatField(null=True, blank=True)
    history = models.JSONField(default=dict, blank=True, help_text="Per-epoch series.")
    search = models.JSONField(
        default=dict, blank=True, help_text="Model search: every point tried, its metric and time."
    )
    artifact_path = models.CharField(max_length=500, blank=True)
    progress = models.FloatField(default=0.0)
    progress_message = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    promotion_note = models.TextField(blank=True)
    triggered_by = models.CharField(max_length=32, default="manual")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(
        max_length=255, blank=True, help_text="The Celery worker running it (empty: in-process)."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the process training it."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    train_seconds = models.FloatField(null=True, blank=True)
    scored_users = models.IntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["scenario", "status"], name="version_scenario_status")]

    def __str__(self):
        return f"{self.scenario} v{self.pk} ({self.algorithm}, {self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    def set_progress(self, fraction: float, message: str = "") -> None:
        """Record progress with a narrow UPDATE so concurrent status changes are not overwritten."""
        self.progress = max(0.0, min(1.0, float(fraction)))
        self.progress_message = message[:255]
        ModelVersion.objects.filter(pk=self.pk).update(
            progress=self.progress, progress_message=self.progress_message
        )

    @classmethod
    def promoted(cls, slug: str) -> ModelVersion | None:
        return cls.objects.filter(scenario=slug, status=cls.Status.PROMOTED).first()


class Experiment(models.Model):
    """A traffic split between two versions of one scenario, by a hash of the user id."""

    scenario = models.SlugField(max_length=20, db_index=True)
    name = models.CharField(max_length=100)
    control = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    treatment = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    treatment_share = models.FloatField(
        default=0.5, help_text="Fraction of users (0-1, by hash of user id) served by treatment."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.scenario}: {self.name}"

    def save(self, *args, **kwargs):
        if not self.is_active and self.ended_at is None:
            self.ended_at = timezone.now()
        super().save(*args, **kwargs)

    def clean(self):
        errors = {}
        if not 0.0 < self.treatment_share < 1.0:
            errors["treatment_share"] = "treatment_share must be strictly between 0 and 1"
        for field in ("control", "treatment"):
            version = getattr(self, field, None) if getattr(self, f"{field}_id") else None
            if version is not None and version.scenario != self.scenario:
                errors[field] = f"version {version.pk} belongs to scenario {version.scenario!r}"
            elif version is not None and version.status not in (
                ModelVersion.Status.SUCCEEDED,
                ModelVersion.Status.PROMOTED,
                ModelVersion.Status.RETIRED,
            ):
                errors[field] = f"version {version.pk} is {version.status}; it has no model"
        if self.control_id and self.control_id == self.treatment_id:
            errors["treatment"] = "treatment must differ from control"
        if self.is_active:
            others = Experiment.objects.filter(scenario=self.scenario, is_active=True)
            if others.exclude(pk=self.pk).exists():
                errors["is_active"] = f"scenario {self.scenario!r} already has an active experiment"
        if errors:
            raise ValidationError(errors)


class ImpressionCount(models.Model):
    """Responses served per scenario, version and arm per day (flushed from cache counters)."""

    scenario = models.SlugField(max_length=20)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="impressions"
    )
    arm = models.CharField(max_length=16, blank=True)
    day = models.DateField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scenario", "model_version", "arm", "day"], name="impression_count_key"
            )
        ]

    def __str__(self):
        return (
            f"{self.scenario} v{self.model_version_id} {self.arm or '-'} {self.day}: {self.count}"
        )
