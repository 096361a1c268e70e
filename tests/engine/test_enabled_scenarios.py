"""RECO_SCENARIOS lists the enabled scenarios (default: every app under scenarios/); one left
out has no routes, tasks or admin pages, and the rest of the platform works without it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.plugins import bundled_scenarios

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, django
django.setup()
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from config.celery import app
from catalog.models import ApiKey
from engine import registry
call_command("migrate", verbosity=0)
call_command("check")
_, key = ApiKey.create_key("enabled-test", ["read"])
client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
admin_user = __import__("django.contrib.auth", fromlist=["get_user_model"]).get_user_model()
staff = admin_user.objects.create_superuser("ops", "ops@example.com", "pw")
site = Client()
site.force_login(staff)
print(json.dumps({
    "registered": [s.slug for s in registry.all_scenarios()],
    "apps": sorted(c.label for c in apps.get_app_configs()),
    "products_route": client.get("/api/v1/products/recommendations", {"user_id": "u"}).status_code,
    "generic_route": client.get("/api/v1/scenarios/products/recommendations", {"user_id": "u"}).status_code,
    "listing": client.get("/api/v1/scenarios/").json(),
    "health": client.get("/api/v1/health").status_code,
    "schema": client.get("/api/schema/").status_code,
    "admin_index": site.get("/admin/").status_code,
    "admin_models": sorted(m._meta.label for m in admin.site._registry),
}))
"""


def run_platform(tmp_path, enabled: str | None) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "RECO_VAR_DIR": str(tmp_path)}
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "RECO_SCENARIOS"):
        env.pop(name, None)
    if enabled is not None:
        env["RECO_SCENARIOS"] = enabled
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "platform"), str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_bundled_scenario_is_enabled_by_default():
    bundled = bundled_scenarios(ROOT / "scenarios")
    assert "scenarios.products" in bundled
    assert all((ROOT / app.replace(".", "/") / "apps.py").is_file() for app in bundled)


@pytest.mark.slow
def test_a_disabled_scenario_leaves_no_route_task_or_admin_page(tmp_path):
    enabled = run_platform(tmp_path / "all", None)
    assert "products" in enabled["registered"] and "products" in enabled["apps"]
    assert enabled["products_route"] == 200 and enabled["generic_route"] == 200
    disabled = run_platform(tmp_path / "none", "")
    assert disabled["registered"] == [] and "products" not in disabled["apps"]
    assert disabled["products_route"] == 404 and disabled["generic_route"] == 404
    assert disabled["listing"] == {"results": []}
    assert disabled["health"] == 200 and disabled["schema"] == 200
    assert disabled["admin_index"] == 200
    assert set(disabled["admin_models"]) <= set(enabled["admin_models"])
