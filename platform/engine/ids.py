"""Recommendation ids: every answer carries one, and an event quoting it is attributed to the
scenario, model version and experiment arm that produced it, with no lookup table."""

from __future__ import annotations

import os
import random

from engine.scenario import InvalidRequest

ARM_CODES = {"": "n", "control": "a", "treatment": "b"}
ARM_NAMES = {code: name for name, code in ARM_CODES.items()}

# Ids need to be unique, not secret (quoting one only attributes an event): a per-process
# generator, reseeded in every forked worker, spares each answer an OS random read.
_id_bits = random.Random()
os.register_at_fork(after_in_child=_id_bits.seed)


def new_recommendation_id(slug: str, version_id: int | None, arm: str) -> str:
    """``<slug>.<version or 0>.<arm code>.<128 random bits>``."""
    return f"{slug}.{version_id or 0}.{ARM_CODES[arm]}.{_id_bits.getrandbits(128):032x}"


def parse_recommendation_id(recommendation_id: str) -> tuple[str, int | None, str] | None:
    """(scenario, model version id or None, arm) of an id we issued; None for anything else."""
    parts = recommendation_id.split(".")
    if len(parts) != 4 or not parts[1].isdigit() or parts[2] not in ARM_NAMES:
        return None
    version = int(parts[1]) or None
    return parts[0], version, ARM_NAMES[parts[2]]


def require_recommendation_id(slug: str, recommendation_id: str) -> tuple[int | None, str]:
    """(version id, arm) of an id ``slug`` issued, for feedback a scenario records in its own
    tables (an ad click, a redemption); InvalidRequest (400) for an id of another scenario or
    one never issued."""
    parsed = parse_recommendation_id(recommendation_id)
    if parsed is None:
        raise InvalidRequest(
            f"recommendation_id {recommendation_id!r} is not one this platform issued"
        )
    if parsed[0] != slug:
        raise InvalidRequest(
            f"recommendation_id {recommendation_id!r} was issued by scenario {parsed[0]!r}, "
            f"not {slug!r}"
        )
    return parsed[1], parsed[2]


def attribution_prefix(slug: str, version_id: int | None, arm: str) -> str:
    """What every id of one scenario, version and arm starts with."""
    return f"{slug}.{version_id or 0}.{ARM_CODES[arm]}."
