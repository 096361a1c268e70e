"""Health checks for load balancers and compose healthchecks: database, cache, broker."""

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection

BROKER_TIMEOUT_SECONDS = 2.0


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def check_cache() -> str:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    if cache.get(key) != "ok":
        raise RuntimeError("value written to the cache could not be read back")
    cache.delete(key)
    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


def check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process"
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
        return conn.transport.driver_type


class Degraded(Exception):
    """A check's part works, less well than it should (the message says how): reported, and
    the service stays healthy."""


# Other apps add theirs in AppConfig.ready() (the engine adds "models").
CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}


def run_checks() -> tuple[bool, dict]:
    """Run every check; return (all up, {component: {"status", "detail"}})."""
    components, healthy = {}, True
    for name, check in CHECKS.items():
        try:
            components[name] = {"status": "up", "detail": check()}
        except Degraded as exc:
            components[name] = {"status": "degraded", "detail": str(exc)}
        except Exception as exc:  # any failure means "down"; the message says why
            healthy = False
            components[name] = {"status": "down", "detail": f"{type(exc).__name__}: {exc}"}
    return healthy, components
