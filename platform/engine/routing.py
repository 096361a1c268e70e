"""Which model version answers a request: the promoted one, or an experiment arm by user hash.

The promoted version, the active experiment and the operator's saved settings live in the
database and are read at most once per ``VERSION_CHECK_SECONDS`` per process, so a promotion in
any process is served everywhere within seconds, without a restart.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from engine.models import Experiment, ModelVersion, ScenarioConfig

VERSION_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class Route:
    """Which version serves a user and under which experiment arm ("" outside experiments)."""

    version_id: int | None
    arm: str = ""
    experiment_id: int | None = None


class _RouteTable:
    """Per-process memo of each scenario's promoted version, active experiment and saved
    settings."""

    def __init__(self):
        self._entries: dict[str, tuple[float, int | None, tuple | None, dict]] = {}
        self._lock = threading.Lock()

    def lookup(self, slug: str) -> tuple[int | None, tuple | None]:
        entry = self._entry(slug)
        return entry[1], entry[2]

    def saved_settings(self, slug: str) -> dict[str, Any]:
        """The operator's saved settings for ``slug`` (not overlaid on defaults)."""
        return self._entry(slug)[3]

    def _entry(self, slug: str) -> tuple[float, int | None, tuple | None, dict]:
        now = time.monotonic()
        entry = self._entries.get(slug)
        if entry is None or now - entry[0] > VERSION_CHECK_SECONDS:
            saved = (
                ScenarioConfig.objects.filter(slug=slug).values_list("settings", flat=True).first()
            )
            promoted = (
                ModelVersion.objects.filter(scenario=slug, status=ModelVersion.Status.PROMOTED)
                .values_list("pk", flat=True)
                .first()
            )
            experiment = (
                Experiment.objects.filter(scenario=slug, is_active=True)
                .values_list("pk", "control_id", "treatment_id", "treatment_share")
                .first()
            )
            entry = (now, promoted, experiment, saved or {})
            with self._lock:
                self._entries[slug] = entry
        return entry

    def forget(self, slug: str | None = None) -> None:
        """Drop the memo (tests, and right after this process promotes a version)."""
        with self._lock:
            if slug is None:
                self._entries.clear()
            else:
                self._entries.pop(slug, None)


routes = _RouteTable()


def user_bucket(user_id: str, salt: str) -> float:
    """A stable number in [0, 1) from the user id, independent across experiments."""
    digest = hashlib.blake2b(f"{salt}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def route_for(slug: str, user_id: str | None) -> Route:
    promoted, experiment = routes.lookup(slug)
    if experiment is not None and user_id:
        experiment_id, control_id, treatment_id, share = experiment
        if user_bucket(user_id, f"experiment-{experiment_id}") < share:
            return Route(treatment_id, "treatment", experiment_id)
        return Route(control_id, "control", experiment_id)
    return Route(promoted)


def served_versions(slug: str) -> list[int]:
    """Versions answering requests now: the promoted one and both arms of a running experiment."""
    promoted, experiment = routes.lookup(slug)
    return sorted({promoted, *(experiment[1:3] if experiment else ())} - {None})
