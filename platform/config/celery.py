"""The Celery app. Without CELERY_BROKER_URL tasks run in-process (see settings)."""

import os
import sys
from pathlib import Path

_root = Path(__file__).resolve().parents[2]
for _path in (str(_root), str(_root / "platform")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from celery import Celery  # noqa: E402

app = Celery("recoplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
