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
from celery.signals import celeryd_init  # noqa: E402

app = Celery("recoplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
def consume_every_declared_queue(sender=None, instance=None, options=None, **kwargs):
    """A worker started without ``-Q`` consumes the engine's queues and every queue an installed
    scenario declares, so a scenario's new queue needs no edit here, in the Makefile or in
    docker/compose.yaml. Runs after Django is set up (the worker's loader did it)."""
    if (options or {}).get("queues"):
        return
    from engine import registry
    from engine.queues import declared_queues

    for name in declared_queues(registry.all_scenarios()):
        instance.app.amqp.queues.select_add(name)
