"""Fixtures for the integration tests: real PostgreSQL, real Redis and a real Celery worker.

Run them with ``make test-integration``, which sets ``DATABASE_URL`` (PostgreSQL),
``REDIS_URL`` and ``CELERY_BROKER_URL`` (Redis). Without those three variables every test in this
folder is skipped with that reason. Every test in this folder is marked ``integration``
automatically (``make test-unit`` deselects them, ``make test-integration`` selects them).

Isolation, because several developers or CI jobs may share one PostgreSQL and one Redis:

- database: pytest-django creates, migrates and finally drops ``test_<NAME>_<pid>``;
- Redis: the session claims a free logical database (2..15, by a lock key that expires) and
  points both the cache and the broker of this process at it; ``make``'s db 0 / db 1 stay
  untouched. The database is flushed when claimed and when released;
- artifacts: ``settings.ARTIFACTS_DIR`` is a temporary folder shared with the worker.

Fixtures:

``integration_services`` (session, autouse)
    The isolation above. Its value has ``broker_url``, ``cache_url``, ``artifacts_dir``.

``celery_worker`` (session)
    Starts ``celery -A config worker --pool solo --concurrency 1`` (no ``-Q``: every declared queue)
    in ``platform/`` with ``DATABASE_URL`` naming the SAME test database, the claimed Redis and
    the shared artifacts folder; waits until it answers a control ping and has run a
    ``catalog.ping`` task sent through the broker; terminates it at the end of the session. Its value is a :class:`WorkerProcess` (``.name``, ``.log_tail()``).

``wait_until`` (function)
    ``wait_until(predicate, timeout=30, message="...")`` polls ``predicate()`` until it returns
    something truthy and returns that, or fails the test with ``message`` and the worker's log.

Writing a test that the worker must see::

    pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

    def test_import_runs_on_the_worker(celery_worker, wait_until, tmp_path):
        ...  # create rows: they are committed, so the worker sees them
        import_dataset.delay("csv", str(path))  # travels through Redis to the worker
        wait_until(lambda: Interaction.objects.count() == 2, message="worker wrote no rows")

``transaction=True`` is needed because a plain ``django_db`` test wraps everything in a
transaction the worker cannot see. ``serialized_rollback=True`` restores the rows that data
migrations seed (the event types) after each test's flush; leave it out only if the test does
not need them. Paths handed to tasks must be readable by the worker (``tmp_path`` is).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.test.utils import override_settings

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_ENV = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
CLAIMABLE_REDIS_DBS = range(2, 16)
REDIS_LOCK_KEY = "recoplatform:integration-session"
REDIS_LOCK_SECONDS = 3600
WORKER_START_TIMEOUT = 180  # the worker imports every app, TensorFlow included, on 2 busy cores


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark every test in this folder ``integration`` before ``-m`` selection runs."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


def missing_services_reason() -> str | None:
    missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
    if missing:
        return (
            f"integration tests need {', '.join(missing)} (PostgreSQL and Redis); "
            "run `make test-integration`"
        )
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "integration tests need DATABASE_URL to name a PostgreSQL database"
    return None


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """Name the test database ``test_<NAME>_<pid>`` so parallel runs never drop each other's."""
    if missing_services_reason() is None:
        database = settings.DATABASES["default"]
        database.setdefault("TEST", {})
        database["TEST"]["NAME"] = f"test_{database['NAME']}_{os.getpid()}"


@dataclass(frozen=True)
class Services:
    broker_url: str
    cache_url: str
    artifacts_dir: Path


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def claim_redis_db(url: str) -> tuple[redis.Redis, int]:
    """Take the first logical database whose lock key is free; flush what a crash left there."""
    for db in CLAIMABLE_REDIS_DBS:
        client = redis.Redis.from_url(with_redis_db(url, db))
        if client.set(REDIS_LOCK_KEY, os.getpid(), nx=True, ex=REDIS_LOCK_SECONDS):
            client.flushdb()
            client.set(REDIS_LOCK_KEY, os.getpid(), ex=REDIS_LOCK_SECONDS)
            return client, db
        client.close()
    raise RuntimeError(f"every Redis database {CLAIMABLE_REDIS_DBS} is held by another test run")


def point_celery_at(broker_url: str) -> None:
    """Make this process's Celery app publish to ``broker_url`` and forget older connections."""
    from config.celery import app

    # Celery reads the CELERY_BROKER_URL variable before its own setting, so set both.
    os.environ["CELERY_BROKER_URL"] = broker_url
    app.conf.broker_url = broker_url
    app._after_fork()  # drops the cached broker pools, as Celery does in a forked child


@pytest.fixture(scope="session", autouse=True)
def integration_services(tmp_path_factory):
    reason = missing_services_reason()
    if reason:
        pytest.skip(reason)
    client, db = claim_redis_db(os.environ["REDIS_URL"])
    url = with_redis_db(os.environ["REDIS_URL"], db)
    artifacts_dir = tmp_path_factory.mktemp("artifacts")
    caches = {"default": {**settings.CACHES["default"], "LOCATION": url}}
    previous_broker = os.environ["CELERY_BROKER_URL"]
    override = override_settings(CELERY_BROKER_URL=url, CACHES=caches, ARTIFACTS_DIR=artifacts_dir)
    override.enable()
    point_celery_at(url)
    try:
        yield Services(broker_url=url, cache_url=url, artifacts_dir=artifacts_dir)
    finally:
        override.disable()
        point_celery_at(previous_broker)
        client.flushdb()
        client.close()


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def worker_database_url() -> str:
    """DATABASE_URL with its database name replaced by the test database's."""
    from django.db import connection

    parts = urlsplit(os.environ["DATABASE_URL"])
    name = connection.settings_dict["NAME"]
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def service_environment(services: Services, var_dir: Path) -> dict[str, str]:
    """Environment of a child process (worker, API server) on this session's test database,
    Redis database and artifacts folder."""
    return {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": services.broker_url,
        "REDIS_URL": services.cache_url,
        "RECO_ARTIFACTS_DIR": str(services.artifacts_dir),
        "RECO_VAR_DIR": str(var_dir),
        # The settings of this test process (the stub scenarios enabled), importable from the
        # repository root as pytest's pythonpath makes them here.
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }


def start_worker(services: Services, log_path: Path, queue: str = "") -> WorkerProcess:
    """A worker on every declared queue, or on ``queue`` alone (a test's own worker)."""
    name = f"integration-{queue or 'all'}-{os.getpid()}@{socket.gethostname()}"
    env = service_environment(services, log_path.parent)
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "--pool", "solo", "--concurrency", "1", "-n", name,
        "--without-gossip", "--without-mingle", "--loglevel", "info",
    ]  # fmt: skip
    if queue:
        command += ["-Q", queue]
    log = log_path.open("wb")
    process = subprocess.Popen(
        command, cwd=ROOT / "platform", env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()  # the child holds its own descriptor
    return WorkerProcess(name=name, process=process, log_path=log_path)


def wait_for_ping(worker: WorkerProcess, timeout: float) -> None:
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(
                f"celery worker exited with {worker.process.returncode}:\n{worker.log_tail()}"
            )
        if app.control.ping(destination=[worker.name], timeout=1.0):
            return
    raise RuntimeError(f"celery worker did not answer a ping in {timeout}s:\n{worker.log_tail()}")


def wait_for_task_roundtrip(worker: WorkerProcess, timeout: float) -> None:
    """Send ``catalog.ping`` through the broker and wait for the worker to log its success."""
    from catalog.tasks import ping

    marker = f"Task catalog.ping[{ping.delay().id}] succeeded"
    deadline = time.monotonic() + timeout
    while marker not in worker.log_tail(400):
        if time.monotonic() > deadline or worker.process.poll() is not None:
            raise RuntimeError(f"catalog.ping never ran on the worker:\n{worker.log_tail()}")
        time.sleep(0.2)


def stop_worker(worker: WorkerProcess) -> None:
    if worker.process.poll() is None:
        worker.process.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task
        try:
            worker.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


@pytest.fixture(scope="session")
def celery_worker(integration_services, django_db_setup, django_db_blocker, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("celery-worker") / "worker.log"
    worker = start_worker(integration_services, log_path)
    try:
        wait_for_ping(worker, WORKER_START_TIMEOUT)
        wait_for_task_roundtrip(worker, timeout=60)
        yield worker
    finally:
        # Before pytest-django drops the database: PostgreSQL refuses while the worker is connected.
        stop_worker(worker)


@pytest.fixture
def wait_until(request):
    def wait(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "timed out"):
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                log = ""
                if "celery_worker" in request.fixturenames:
                    log = "\nworker log:\n" + request.getfixturevalue("celery_worker").log_tail()
                pytest.fail(f"{message} (after {timeout}s){log}")
            time.sleep(interval)

    return wait


@pytest.fixture
def api_server(celery_worker, integration_services, tmp_path):
    """gunicorn with the project's config and two sync workers on the test database and the
    claimed Redis: the processes a storefront's requests really spread over."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **service_environment(integration_services, tmp_path),
        "WEB_CONCURRENCY": "2",
        "DJANGO_DEBUG": "0",
        "API_KEY_THROTTLE_RATE": "",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--chdir", "platform"]
        + ["--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        "gunicorn did not start:\n" + (tmp_path / "gunicorn.log").read_text()
                    )
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
