"""The compose stack and the image, checked without a Docker engine (none runs here).

Parses docker/compose.yaml and docker/Dockerfile and checks that everything they name exists in
this repository: services, volumes, depends_on targets, environment variables the settings read,
and the entry points (gunicorn's WSGI module, the Celery app, manage.py commands).
"""

import os
import re
import runpy
import shlex
import warnings
from pathlib import Path
from types import SimpleNamespace

import dj_database_url
import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from django.conf import settings
from django.core.management import get_commands
from django.urls import Resolver404, resolve
from django.utils.module_loading import import_string

from engine.queues import QUEUES

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
PLATFORM_SERVICES = ("web", "worker", "beat")
REQUIRED_ENV = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "RECO_ARTIFACTS_DIR",
    "DJANGO_SECRET_KEY",
)
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs with line continuations joined and comments dropped."""
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    pairs = []
    for line in lines:
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def command_words(service: dict) -> list[str]:
    """The service's command as argv words; ``sh -c "a && b"`` is flattened into its words."""
    command = service["command"]
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"]:
        words = shlex.split(words[2])
    return words


def env_of(service: dict) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(entry.split("=", 1) for entry in environment)
    return {key: str(value) for key, value in environment.items()}


def resolve_interpolation(value: str) -> str:
    """What compose substitutes when the variable is unset: the ``:-`` default."""
    return INTERPOLATION.sub(lambda match: match.group(3), value)


def test_no_package_marker_in_docker_folder():
    assert not (DOCKER / "__init__.py").exists()


def test_services_are_the_five_roles(compose):
    assert set(compose["services"]) == {"web", "worker", "beat", "postgres", "redis"}


def test_depends_on_targets_are_services(compose):
    for name, service in compose["services"].items():
        for target in service.get("depends_on", {}):
            assert target in compose["services"], f"{name} depends on unknown service {target}"
            assert target != name


def test_named_volumes_are_declared_and_used(compose):
    declared = set(compose.get("volumes", {}))
    used = set()
    for service in compose["services"].values():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert not source.startswith((".", "/")), f"bind mount {mount} is not portable"
            used.add(source)
    assert used == declared == {"pgdata", "artifacts"}


def test_healthchecks_cover_web_database_and_broker(compose):
    services = compose["services"]
    web_probe = " ".join(services["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/api/v1/health" in web_probe
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]


def test_health_url_probed_by_compose_is_routed():
    try:
        resolve("/api/v1/health")
    except Resolver404:
        pytest.fail("compose probes /api/v1/health but no URL pattern serves it")


def test_platform_services_set_every_variable_the_settings_read(compose):
    settings_source = (ROOT / "platform" / "config" / "settings.py").read_text()
    for name in REQUIRED_ENV:
        assert f'"{name}"' in settings_source, f"settings.py never reads {name}"
    for role in PLATFORM_SERVICES:
        env = env_of(compose["services"][role])
        missing = [name for name in REQUIRED_ENV if not resolve_interpolation(env.get(name, ""))]
        assert missing == [], f"{role} lacks {missing}"


def test_interpolated_variables_have_defaults():
    """`docker compose up` must work with no .env file: every ${VAR} carries a ``:-`` default."""
    text = (DOCKER / "compose.yaml").read_text()
    found = INTERPOLATION.findall(text)
    assert found, "expected DJANGO_SECRET_KEY and POSTGRES_PASSWORD to be overridable"
    for name, operator, default in found:
        assert operator == ":-" and default, f"${{{name}}} has no default"


def test_service_urls_point_at_the_compose_services(compose):
    services = compose["services"]
    env = env_of(services["web"])
    database = dj_database_url.parse(resolve_interpolation(env["DATABASE_URL"]))
    postgres_env = env_of(services["postgres"])
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["HOST"] in services
    assert database["NAME"] == postgres_env["POSTGRES_DB"]
    assert database["USER"] == postgres_env["POSTGRES_USER"]
    assert database["PASSWORD"] == resolve_interpolation(postgres_env["POSTGRES_PASSWORD"])
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        host = env[name].split("://", 1)[1].split(":", 1)[0]
        assert services[host]["image"].startswith("redis"), name
    assert env["REDIS_URL"] != env["CELERY_BROKER_URL"], "cache and broker share a Redis db"
    artifacts_mounts = {m.split(":", 1)[1] for m in services["worker"]["volumes"]}
    assert env["RECO_ARTIFACTS_DIR"] in artifacts_mounts, "workers must write to the shared volume"


def test_web_runs_gunicorn_on_the_real_wsgi_module(compose):
    words = command_words(compose["services"]["web"])
    assert words[:4] == ["python", "manage.py", "migrate", "--noinput"]
    assert "migrate" in get_commands()
    gunicorn = words[words.index("gunicorn") :]
    module = gunicorn[1]
    assert gunicorn[gunicorn.index("--chdir") + 1] == "platform"
    assert (ROOT / gunicorn[gunicorn.index("--config") + 1]).is_file()
    assert (ROOT / "platform" / Path(*module.split("."))).with_suffix(".py").is_file()
    with warnings.catch_warnings():
        # whitenoise warns that STATIC_ROOT is empty until collectstatic runs (the image runs it).
        warnings.filterwarnings("ignore", "No directory at", UserWarning)
        assert callable(import_string(f"{module}.application"))


def test_worker_and_beat_run_the_project_celery_app(compose, dockerfile):
    workdir = next(arguments for instruction, arguments in dockerfile if instruction == "WORKDIR")
    for role in ("worker", "beat"):
        service = compose["services"][role]
        assert service["working_dir"] == f"{workdir}/platform", "celery -A config needs platform/"
        words = command_words(service)
        assert words[:3] == ["celery", "-A", "config"]
        assert isinstance(find_app("config"), Celery)
    worker = command_words(compose["services"]["worker"])
    assert "-Q" not in worker, "a worker without -Q consumes every declared queue"
    beat = command_words(compose["services"]["beat"])
    scheduler = beat[beat.index("--scheduler") + 1]
    assert scheduler == settings.CELERY_BEAT_SCHEDULER
    import_string(scheduler.replace(":", "."))


def test_dockerfile_installs_pinned_requirements_before_code(dockerfile):
    assert dockerfile[0] == ("FROM", "python:3.11-slim")
    copies = [arguments.split() for instruction, arguments in dockerfile if instruction == "COPY"]
    assert copies[0][0] == "requirements.txt", (
        "dependencies must be installed before code is copied"
    )
    run_lines = [arguments for instruction, arguments in dockerfile if instruction == "RUN"]
    assert "pip install -r requirements.txt" in run_lines[0]
    assert any("manage.py collectstatic --noinput" in line for line in run_lines)


def test_dockerfile_copies_paths_that_exist(compose, dockerfile):
    build = compose["services"]["web"]["build"]
    context = (DOCKER / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"
    sources = [
        source
        for instruction, arguments in dockerfile
        if instruction == "COPY"
        for source in arguments.split()[:-1]
    ]
    assert {"requirements.txt", "manage.py", "platform", "ml"} <= set(sources)
    for source in sources:
        assert (context / source).exists(), f"COPY {source}: not in the build context"


def test_dockerfile_default_command_is_gunicorn_on_config_wsgi(dockerfile):
    command = next(arguments for instruction, arguments in dockerfile if instruction == "CMD")
    words = yaml.safe_load(command)  # exec form is a JSON array, which YAML reads too
    assert words[:4] == ["gunicorn", "config.wsgi", "--chdir", "platform"]
    config = words[words.index("--config") + 1]
    copied = [a.split() for instruction, a in dockerfile if instruction == "COPY"]
    assert any(config in sources[:-1] for sources in copied), f"{config} is not in the image"


def test_gunicorn_config_runs_sync_workers_and_limits_blas_threads(monkeypatch):
    """Its settings load as gunicorn loads them, and the warm-up hook is one gunicorn knows."""
    from gunicorn.config import Config

    for variable in (
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "WEB_CONCURRENCY",
    ):
        monkeypatch.setenv(variable, "")  # recorded, so the test's own setting is undone too
        monkeypatch.delenv(variable)
    namespace = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    config = Config()
    for name, value in namespace.items():
        if name in config.settings:
            config.set(name, value)
    assert config.worker_class_str == "sync" and config.threads == 1
    assert config.workers == (os.cpu_count() or 2)
    assert callable(config.post_worker_init)
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"


def test_a_worker_started_without_queues_consumes_every_declared_one():
    """What the compose worker (and ``make worker``) relies on: the celeryd_init handler adds
    the engine's queues and every installed scenario's; a worker given -Q keeps its choice."""
    from config.celery import consume_every_declared_queue
    from engine import registry
    from engine.queues import declared_queues

    def worker(options):
        instance = SimpleNamespace(app=Celery("probe", set_as_current=False))
        consume_every_declared_queue(instance=instance, options=options)
        return set(instance.app.amqp.queues)

    consumed = worker({"queues": None})
    assert set(declared_queues(registry.all_scenarios())) <= consumed
    assert {*QUEUES, settings.CELERY_TASK_DEFAULT_QUEUE} <= consumed
    assert not set(declared_queues(registry.all_scenarios())) & worker(
        {"queues": "training"}
    )  # -Q decides


def test_a_worker_freezes_what_it_loaded_out_of_the_collectors_reach(monkeypatch):
    """After the warm-up, the loaded models are frozen: a full collection then walks none of
    them (it walked them all, a pause of tens of milliseconds, every few seconds under load)."""
    import gc

    from engine import serving

    namespace = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    monkeypatch.setattr(serving, "warm_up", lambda: ["products v1"])
    logged = []
    worker = SimpleNamespace(log=SimpleNamespace(info=lambda *args: logged.append(args)))
    try:
        namespace["post_worker_init"](worker)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert logged and "products v1" in logged[0][1]
