"""``manage.py demo_setup``: everything ``make run`` does before it serves.

1. The demo store for every enabled scenario (``seed_demo``; skipped when the database already
   holds users, items or events). Each scenario's seed hook queues its first training.
2. A trained version of every trainable scenario, one progress bar per training. A scenario with
   no promoted version and none queued or running (a store seeded earlier, a training that
   failed) is queued again.
3. The storefront demo's API key (``storefront.keys``), for the page at /demo/.
4. An admin login: a superuser ``admin`` with a random password, printed once, when there is
   no superuser yet.
5. The three URLs: the API, the admin and the demo shop.

Demo trainings search models for ``--search-budget`` seconds (15 by default) instead of the
scenarios' configured ``search_budget_seconds`` (120): six scenarios at 120 s each would keep a
new user waiting twelve minutes. The budget is written into each scenario's settings for the
requests made here, so every demo version records it (``ModelVersion.settings``), and the
settings are put back as they were afterwards: a later "train now" searches as configured.
``--search-budget 0`` turns the search off (each scenario trains its configured model), as the
tests do.

On the embedded default the trainings run in this process; with ``CELERY_BROKER_URL`` set the
workers run them and this command waits for them (``--timeout``).
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Max
from tqdm import tqdm

from catalog.management.commands.seed_demo import DEFAULT_USERS
from catalog.models import Interaction, Item, User
from engine import registry
from engine.models import ModelVersion, ScenarioConfig
from engine.versions import request_training
from storefront.keys import ensure_demo_key

Status = ModelVersion.Status
ADMIN_USERNAME = "admin"
POLL_SECONDS = 0.3


class Command(BaseCommand):
    help = "Seed the demo store, train every scenario, create the demo key and an admin login."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="Demo shoppers.")
        parser.add_argument("--items", type=int, default=400, help="Demo products.")
        parser.add_argument("--articles", type=int, default=50, help="Editorial articles.")
        parser.add_argument("--days", type=int, default=45, help="Days of browsing history.")
        parser.add_argument("--seed", type=int, default=0, help="Same seed, same store.")
        parser.add_argument(
            "--search-budget",
            type=float,
            default=15.0,
            help="Seconds each demo training's model search may spend (0: no search).",
        )
        parser.add_argument(
            "--timeout", type=float, default=1800, help="Seconds to wait for the trainings."
        )
        parser.add_argument("--host", default="127.0.0.1", help="Host in the printed URLs.")
        parser.add_argument("--port", default="8000", help="Port in the printed URLs.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args, **options):
        # TensorFlow's C++ start-up lines would bury the progress bars (errors still raise)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if options["search_budget"] < 0:
            raise CommandError("--search-budget must be 0 or more seconds")
        show = not options["no_progress"]
        trainable = [s.slug for s in registry.all_scenarios() if s.is_trainable()]
        after = ModelVersion.objects.aggregate(last=Max("pk"))["last"] or 0
        bars = TrainingBars(after, show, options["timeout"])
        if show:
            bars.start()
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            self.stdout.write("Trainings run on the Celery workers: this waits for them.")
        try:
            with demo_search_budget(trainable, options["search_budget"]):
                self._seed(options, show)
                self._train_missing(trainable)
        finally:
            bars.finish()
        self._report(after)
        ensure_demo_key()
        self._admin_login()
        base = f"http://{options['host']}:{options['port']}"
        self.stdout.write(
            self.style.SUCCESS("Ready:")
            + f"\n  API        {base}/api/v1/   (docs: {base}/api/docs/)"
            + f"\n  Admin      {base}/admin/"
            + f"\n  Demo shop  {base}/demo/"
        )

    def _seed(self, options, show: bool) -> None:
        if User.objects.exists() or Item.objects.exists() or Interaction.objects.exists():
            self.stdout.write("Demo store: the database holds data already; not seeding.")
            return
        call_command(
            "seed_demo",
            users=options["users"],
            items=options["items"],
            articles=options["articles"],
            days=options["days"],
            seed=options["seed"],
            no_progress=not show,
            stdout=BarSafeStream() if show else self.stdout,
        )

    def _train_missing(self, trainable: list[str]) -> None:
        """Queue a training of each scenario that has nothing to serve and nothing on the way."""
        active = (Status.PROMOTED, Status.QUEUED, Status.RUNNING)
        for slug in trainable:
            if ModelVersion.objects.filter(scenario=slug, status__in=active).exists():
                continue
            with transaction.atomic():  # enqueued (or, embedded, run) when this commits
                version = request_training(slug, triggered_by="demo_setup")
            self.stdout.write(f"{slug}: training queued as version {version.pk}")

    def _report(self, after: int) -> None:
        versions = ModelVersion.objects.filter(pk__gt=after).order_by("pk")
        for version in versions:
            metric = (
                f"{version.primary_metric} {version.primary_value:.4f}"
                if version.primary_value is not None
                else "no metric"
            )
            line = (
                f"{version.scenario}: version {version.pk} {version.status} "
                f"({version.algorithm}, {metric}, {version.train_seconds or 0:.1f} s)"
            )
            if version.status == Status.FAILED:
                self.stderr.write(
                    f"{line}: {version.error.splitlines()[0] if version.error else ''}"
                )
            elif not version.is_final:
                self.stderr.write(f"{line}: still {version.status}; a worker will finish it")
            else:
                self.stdout.write(line)

    def _admin_login(self) -> None:
        model = get_user_model()
        existing = list(model.objects.filter(is_superuser=True).values_list("username", flat=True))
        if existing:
            self.stdout.write(
                f"Admin login: superuser {', '.join(existing)} exists (its password was shown "
                f"when it was made; `manage.py changepassword {existing[0]}` sets a new one)."
            )
            return
        password = secrets.token_urlsafe(12)
        model.objects.create_superuser(ADMIN_USERNAME, email="", password=password)
        self.stdout.write(
            self.style.WARNING("Admin login (shown once): ")
            + f"user {ADMIN_USERNAME}, password {password}"
        )


@contextmanager
def demo_search_budget(slugs: list[str], budget: float):
    """Set the model search budget of ``slugs`` for the trainings requested inside, then put
    their stored settings back as they were."""
    saved = {}
    for slug in slugs:
        config = ScenarioConfig.for_slug(slug)
        saved[slug] = (config.pk is not None, dict(config.settings))
        demo = {"model_search": False} if budget == 0 else {"search_budget_seconds": budget}
        config.settings = {**config.settings, **demo}
        config.save()
    try:
        yield
    finally:
        for slug, (existed, settings) in saved.items():
            config = ScenarioConfig.for_slug(slug)
            if existed:
                config.settings = settings
                config.save()
            else:
                config.delete()


class BarSafeStream:
    """Standard output whose lines tqdm prints above the progress bars it draws."""

    def write(self, text: str = "", *args, **kwargs) -> None:
        tqdm.write(str(text).rstrip("\n"), file=sys.stdout)

    def flush(self) -> None:
        sys.stdout.flush()


class TrainingBars(threading.Thread):
    """Waits for every version created after ``after`` to end. Started (``show``), it draws a
    progress bar for each from a thread of its own that reads their progress from the database:
    on the embedded default the trainings run in the command's thread, which cannot draw them.
    Not started, ``finish`` waits in the caller's thread."""

    def __init__(self, after: int, show: bool, timeout: float):
        super().__init__(name="demo-setup-bars", daemon=True)
        self.after = after
        self.show = show
        self.timeout = timeout
        self.done_requesting = threading.Event()
        self.error: BaseException | None = None
        self.timed_out = False

    def finish(self) -> None:
        """No more trainings will be requested: wait until every one of them has ended."""
        self.done_requesting.set()
        if self.is_alive() or self.ident is not None:
            self.join()
        else:
            self.run()
        if self.error is not None:
            raise self.error
        if self.timed_out:
            raise CommandError(f"trainings still running after {self.timeout:g} s")

    def run(self) -> None:
        bars: dict[int, tqdm] = {}
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                last_look = self.done_requesting.is_set()
                rows = list(
                    ModelVersion.objects.filter(pk__gt=self.after)
                    .order_by("pk")
                    .values_list("pk", "scenario", "status", "progress", "progress_message")
                )
                for pk, slug, status, progress, message in rows:
                    self._draw(bars, pk, slug, status, progress, message)
                if last_look and all(row[2] in ModelVersion.FINAL for row in rows):
                    return
                if time.monotonic() > deadline:
                    self.timed_out = True
                    return
                time.sleep(POLL_SECONDS)
        except BaseException as error:  # handed to the command's thread by finish()
            self.error = error
        finally:
            for bar in bars.values():
                bar.close()
            if threading.current_thread() is self:
                connection.close()  # this thread's own database connection

    def _draw(self, bars, pk, slug, status, progress, message) -> None:
        if not self.show:
            return
        bar = bars.get(pk)
        if bar is None:
            bar = bars[pk] = tqdm(total=100, desc=f"train {slug} v{pk}", unit="%")
        if bar.disable:  # closed: the version ended
            return
        bar.n = 100 if status in ModelVersion.FINAL else round(progress * 100)
        bar.set_postfix_str(f"{status} {message}"[:50], refresh=False)
        bar.refresh()
        if status in ModelVersion.FINAL:
            bar.close()
