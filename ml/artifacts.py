"""Saving and loading models as a folder of plain arrays and JSON (never pickle).

Each array is its own ``.npy`` file, and arrays of a megabyte or more load memory-mapped and
read-only: every process serving a version (each gunicorn worker) shares one copy of its factor
matrices in the page cache instead of holding its own. Smaller arrays are read into memory, also
read-only, so code that would write into a loaded array fails in tests as it would on a mapping.
A version's files are written once and never rewritten (a new version is a new folder), which a
mapping needs: deleting the folder leaves mapped pages readable, truncating a file would not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE = "model.json"
ARRAYS_DIR = "arrays"
NPZ_FILE = "arrays.npz"  # how folders were written before arrays were memory-mapped
MMAP_MIN_BYTES = 1 << 20
ARRAY_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def save_folder(path: str | Path, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    path = Path(path)
    for name, array in arrays.items():
        if not ARRAY_NAME.fullmatch(name):
            raise ValueError(f"array name {name!r} must be letters, digits, '_', '.' or '-'")
        if np.asarray(array).dtype == object:
            raise ValueError(f"array {name!r} has dtype object; store strings as a str array")
    (path / ARRAYS_DIR).mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        np.save(path / ARRAYS_DIR / f"{name}.npy", np.asarray(array), allow_pickle=False)
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
    return path


def load_folder(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"no saved model in {path} (missing {CONFIG_FILE})")
    config = json.loads((path / CONFIG_FILE).read_text())
    if (path / ARRAYS_DIR).is_dir():
        arrays = {file.stem: _read(file) for file in sorted((path / ARRAYS_DIR).glob("*.npy"))}
    else:
        with np.load(path / NPZ_FILE, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        for array in arrays.values():
            array.flags.writeable = False
    return config, arrays


def _read(file: Path) -> np.ndarray:
    if file.stat().st_size >= MMAP_MIN_BYTES:
        return np.asarray(np.load(file, mmap_mode="r", allow_pickle=False))  # a view, no copy
    array = np.load(file, allow_pickle=False)
    array.flags.writeable = False
    return array
