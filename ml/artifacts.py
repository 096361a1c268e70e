"""Saving and loading models as a folder of plain arrays and JSON (never pickle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"


def save_folder(path: str | Path, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        if np.asarray(array).dtype == object:
            raise ValueError(f"array {name!r} has dtype object; store strings as a str array")
    np.savez(path / ARRAYS_FILE, **{k: np.asarray(v) for k, v in arrays.items()})
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
    return path


def load_folder(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"no saved model in {path} (missing {CONFIG_FILE})")
    config = json.loads((path / CONFIG_FILE).read_text())
    with np.load(path / ARRAYS_FILE, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    return config, arrays
