"""The admin form of a scenario's settings: one field per setting in the scenario's JSON Schema.

Operators pick a model family from a list and type numbers, rather than edit one JSON document.
A field left empty keeps the scenario's default (shown beside it), so only what an operator
changed is stored. The schema stays the one judge of a value: its messages are shown on the
field they concern, and nothing is saved while one remains.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from engine.models import ScenarioConfig

PREFIX = "setting__"


def _bounds(spec: dict[str, Any]) -> str:
    parts = [
        f"{word} {spec[key]}"
        for key, word in (
            ("minimum", "at least"),
            ("exclusiveMinimum", "above"),
            ("maximum", "at most"),
            ("exclusiveMaximum", "below"),
        )
        if key in spec
    ]
    return ", ".join(parts).capitalize()


def setting_field(spec: dict[str, Any], default: Any) -> forms.Field:
    """A form field for one setting: a list for enums and booleans, a number box, a text box,
    or JSON for objects and arrays. Bounds are left to the schema, so its message is the one
    shown."""
    shown = json.dumps(default)
    sentences = [spec.get("description", "").capitalize(), _bounds(spec), f"Empty: {shown}"]
    common = {"required": False, "help_text": ". ".join(filter(None, sentences)) + "."}
    kind = spec.get("type")
    if "enum" in spec or kind == "boolean":
        values = spec.get("enum", [True, False])
        choices = [("", f"default ({shown})")] + [(json.dumps(v), str(v)) for v in values]
        return forms.TypedChoiceField(
            choices=choices, coerce=json.loads, empty_value=None, **common
        )
    placeholder = {"placeholder": shown}
    if kind == "integer":
        return forms.IntegerField(widget=forms.NumberInput(attrs=placeholder), **common)
    if kind == "number":
        return forms.FloatField(
            widget=forms.NumberInput(attrs={**placeholder, "step": "any"}), **common
        )
    if kind == "string":
        return forms.CharField(widget=forms.TextInput(attrs=placeholder), **common)
    return forms.JSONField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), **common)


def has_setting_fields(scenario) -> bool:
    return bool(scenario.settings_schema.get("properties"))


class ScenarioSettingsForm(forms.ModelForm):
    """Base of the per-scenario forms :func:`settings_form_for` builds."""

    scenario = None

    class Meta:
        model = ScenarioConfig
        fields = ["slug"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.settings or {}
        for name, field in self.fields.items():
            key = name.removeprefix(PREFIX)
            if name.startswith(PREFIX) and key in stored:
                choice = isinstance(field, forms.TypedChoiceField)
                field.initial = json.dumps(stored[key]) if choice else stored[key]

    def clean(self):
        cleaned = super().clean()
        settings = {
            name.removeprefix(PREFIX): value
            for name, value in cleaned.items()
            if name.startswith(PREFIX) and value is not None and value != ""
        }
        scenario = self.scenario
        for message in scenario.validate_settings(scenario.effective_settings(settings)):
            field = PREFIX + message.split(":", 1)[0].split(".", 1)[0]
            self.add_error(field if field in self.fields else None, message)
        if not self.errors:
            self.instance.settings = settings
        return cleaned


def settings_form_for(scenario) -> type[ScenarioSettingsForm]:
    """A form class with one declared field per property of ``scenario``'s settings schema."""
    fields = {
        PREFIX + name: setting_field(spec, scenario.default_settings.get(name))
        for name, spec in scenario.settings_schema.get("properties", {}).items()
    }
    name = f"{scenario.slug.title().replace('_', '')}SettingsForm"
    return type(name, (ScenarioSettingsForm,), {**fields, "scenario": scenario})
