"""Fixtures shared by the ml tests: the real datasets folder and a small generated log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ml.data import Interactions
from ml.datasets.common import dataset_path


@pytest.fixture
def shared_data() -> Callable[[str], Path]:
    """``shared_data("movielens-100k")`` gives that dataset's folder, or skips the test."""

    def folder(name: str) -> Path:
        path = dataset_path(name)
        if not path.is_dir():
            pytest.skip(f"dataset {name!r} not found at {path} (set RECO_DATA_DIR to its parent)")
        return path

    return folder


def generate_interactions(
    n_users: int = 40, n_items: int = 30, per_user: int = 8, seed: int = 0
) -> Interactions:
    """A deterministic log: every user rates ``per_user`` distinct items at distinct times."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for user in range(n_users):
        chosen = rng.choice(n_items, size=per_user, replace=False)
        users += [f"u{user}"] * per_user
        items += [f"i{item}" for item in chosen]
        times += list(1_000 + user * 100 + np.arange(per_user))
    values = rng.integers(1, 6, size=len(users)).astype(np.float32)
    return Interactions(np.array(users), np.array(items), values, np.array(times))


@pytest.fixture
def small_interactions() -> Interactions:
    return generate_interactions()


@pytest.fixture
def make_interactions() -> Callable[..., Interactions]:
    """The generator itself, for tests that need other sizes or seeds."""
    return generate_interactions
