"""A pip-installed scenario (an entry point in "recoplatform.scenarios") is served with no change
to core: the test writes a tiny package plus its dist-info to a temp folder, puts it on the path
of a fresh Django process, and calls both the generic and the plugin's own endpoint."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.plugins import bundled_scenarios

ROOT = Path(__file__).resolve().parents[2]

PACKAGE = {
    "tiny_scenario/__init__.py": "",
    "tiny_scenario/apps.py": """
from engine.apps import ScenarioAppConfig


class TinyConfig(ScenarioAppConfig):
    default = True
    name = "tiny_scenario"
    scenario_class = "tiny_scenario.scenario.NewestItems"
""",
    "tiny_scenario/scenario.py": """
import numpy as np

from engine.pipeline import Slate
from engine.scenario import Scenario


class NewestItems(Scenario):
    slug = "tiny"
    title = "Newest items"
    item_kinds = ("product",)
    settings_schema = {"type": "object", "properties": {"n_max": {"type": "integer"}}}
    default_settings = {"n_max": 5}

    def is_trainable(self):
        return False

    def candidates(self, request, context):
        context.fallback = True
        newest = np.argsort(-context.snapshot.pks, kind="stable")
        return Slate(newest, np.ones(len(newest)), ["new arrival"] * len(newest))
""",
    "tiny_scenario/api.py": """
from django.urls import path

from engine.api import ScenarioView
from engine.kinds import RecommendationQuery


class Newest(ScenarioView):
    scenario_slug = "tiny"

    def get(self, request):
        return self.answer(RecommendationQuery.request_from(request.query_params))


urlpatterns = [path("newest", Newest.as_view())]
""",
    "tiny_scenario-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: tiny-scenario\nVersion: 0.1\n",
    "tiny_scenario-0.1.dist-info/entry_points.txt": (
        "[recoplatform.scenarios]\ntiny = tiny_scenario.apps.TinyConfig\n"
    ),
}

SCRIPT = """
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
from catalog.models import ApiKey, Item
from engine import registry
Item.objects.create(external_id="old")
Item.objects.create(external_id="fresh")
_, key = ApiKey.create_key("plugin-test", ["read"])
client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
generic = client.get("/api/v1/scenarios/tiny/recommendations", {"user_id": "u", "n": 1})
own = client.get("/api/v1/tiny/newest", {"user_id": "u", "n": 2})
products = client.get("/api/v1/products/recommendations", {"user_id": "u", "n": 2})
import sys
print(json.dumps({
    "products": products.status_code,
    "tensorflow_loaded": "tensorflow" in sys.modules,
    "registered": [s.slug for s in registry.all_scenarios()],
    "generic": [generic.status_code, generic.json()],
    "own": [own.status_code, own.json()],
}))
"""


@pytest.mark.slow
def test_entry_point_scenario_is_installed_and_served(tmp_path):
    for relative, text in PACKAGE.items():
        target = tmp_path / "site" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT / "platform"), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "RECO_VAR_DIR": str(tmp_path / "var"),
    }
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "tiny" in result["registered"] and "products" in result["registered"]
    assert (
        len(result["registered"]) == len(bundled_scenarios(ROOT / "scenarios")) + 1
    )  # bundled ones + it
    assert result["products"] == 200  # the core scenario still serves beside the plugin
    assert result["tensorflow_loaded"] is False  # serving never pays TensorFlow's import
    status, body = result["generic"]
    assert status == 200
    assert body["scenario"] == "tiny" and body["fallback"] is True
    assert body["recommendation_id"].startswith("tiny.0.n.")
    assert body["items"] == [{"item_id": "fresh", "score": 1.0, "reason": "new arrival"}]
    status, body = result["own"]
    assert status == 200 and [i["item_id"] for i in body["items"]] == ["fresh", "old"]
