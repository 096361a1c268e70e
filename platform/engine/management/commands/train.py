"""``manage.py train SCENARIO [--wait]``: queue a training run, optionally follow it to the end."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from engine import registry, versions
from engine.models import ModelVersion


class Command(BaseCommand):
    help = "Queue a training run of a scenario; with --wait, follow it to promotion or failure."

    def add_arguments(self, parser):
        parser.add_argument("scenario", help="scenario slug, e.g. products")
        parser.add_argument("--wait", action="store_true", help="show progress until it ends")
        parser.add_argument(
            "--timeout", type=float, default=3600, help="seconds to wait at most (with --wait)"
        )

    def handle(self, *args, scenario, wait, timeout, **options):
        try:
            registry.get(scenario)
        except registry.UnknownScenario as error:
            raise CommandError(str(error)) from None
        with transaction.atomic():  # the task is enqueued when this commits
            version = versions.request_training(scenario, triggered_by="command")
        self.stdout.write(f"{scenario}: queued version {version.pk} ({version.algorithm})")
        if not wait:
            return
        deadline = time.monotonic() + timeout
        with tqdm(total=100, unit="%", desc=f"v{version.pk}", file=self.stderr) as bar:
            while True:
                version.refresh_from_db()
                bar.n = round(version.progress * 100)
                bar.set_postfix_str(f"{version.status} {version.progress_message}"[:60])
                bar.refresh()
                if version.is_final:
                    break
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"version {version.pk} still {version.status} after {timeout} s"
                    )
                time.sleep(0.5)
        self._report(version)

    def _report(self, version: ModelVersion) -> None:
        metric = (
            f"{version.primary_metric}={version.primary_value:.4f}"
            if version.primary_value is not None
            else "no metric"
        )
        line = (
            f"version {version.pk}: {version.status}, {metric}, {version.train_seconds or 0:.1f} s"
        )
        if version.status == ModelVersion.Status.FAILED:
            raise CommandError(f"{line}\n{version.error}")
        self.stdout.write(self.style.SUCCESS(line) + f"\n{version.promotion_note}")
