"""Loader for SNAP edge lists (e.g. ego-Facebook): one ``u v`` pair per line, ``#`` comments."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ml.datasets.common import dataset_path

EGO_FACEBOOK = "snap-ego-facebook"


def read_edge_list(path: str | Path, undirected: bool = True) -> np.ndarray:
    """Edges as int64 [m, 2]; self-loops dropped, duplicates (and reversed pairs if undirected)
    merged, so each edge appears once with the smaller id first when undirected."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    pairs = []
    with opener(path, "rt") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            if len(fields) < 2:
                raise ValueError(f"{path}: line {number} is not 'source target'")
            try:
                pairs.append((int(fields[0]), int(fields[1])))
            except ValueError:
                raise ValueError(f"{path}: line {number} has non-integer node ids") from None
    edges = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    if (edges < 0).any():
        raise ValueError(f"{path}: node ids must be non-negative")
    edges = edges[edges[:, 0] != edges[:, 1]]
    if undirected:
        edges = np.sort(edges, axis=1)
    return np.unique(edges, axis=0)


def load_ego_facebook() -> np.ndarray:
    return read_edge_list(dataset_path(EGO_FACEBOOK) / "facebook_combined.txt")
