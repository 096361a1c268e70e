"""Where the shared real datasets live, and small helpers every loader uses."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """``$RECO_DATA_DIR`` if set, else ``../shared/data`` beside the repository."""
    return Path(os.environ.get("RECO_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def dataset_path(name: str) -> Path:
    """Folder of one shared dataset, e.g. ``dataset_path("movielens-100k")``."""
    return shared_data_dir() / name
