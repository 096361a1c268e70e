"""Celery tasks of the catalog. They take paths and names, never model objects.

- ``catalog.ping``: answers "pong" from whichever worker runs it; health and integration checks
  use it to prove a task really travels through the broker and back.
- ``catalog.import_dataset``: runs ``manage.py import_dataset`` in the background, so a large
  import does not hold a web request. Re-running it is harmless: event ids are derived from the
  file's content, so rows already imported count as duplicates.

Both go to the ``default`` queue (Celery's ``task_default_queue``); every other queue is named by
whoever enqueues (see ``engine.queues``).
"""

import io
import logging

from celery import shared_task
from django.core.management import call_command

logger = logging.getLogger(__name__)


@shared_task(name="catalog.ping")
def ping() -> str:
    return "pong"


@shared_task(name="catalog.import_dataset", acks_late=True)
def import_dataset(format: str, path: str, event_type: str = "view") -> str:
    """Import the file or folder at ``path`` (as seen by the worker); return the summary line."""
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(
        "import_dataset",
        format,
        path,
        event_type=event_type,
        no_progress=True,
        stdout=stdout,
        stderr=stderr,
    )
    for note in stderr.getvalue().splitlines():
        logger.warning("import_dataset %s %s: %s", format, path, note)
    summary = stdout.getvalue().strip()
    logger.info("import_dataset %s %s: %s", format, path, summary)
    return summary
