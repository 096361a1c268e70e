"""Loader for Criteo Display Advertising Challenge style CTR files.

Accepts the Kaggle CSV (header ``Id,Label,I1..I13,C1..C26``; the test file has no ``Label``)
and Criteo's original headerless TSV (``label, I1..I13, C1..C26``). Missing integers become
NaN and missing categories the empty string, so models decide how to encode "missing".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.datasets.common import dataset_path

N_NUMERIC = 13
N_CATEGORICAL = 26
NUMERIC_COLUMNS = [f"I{i}" for i in range(1, N_NUMERIC + 1)]
CATEGORICAL_COLUMNS = [f"C{i}" for i in range(1, N_CATEGORICAL + 1)]
DATASET = "criteo-kaggle-dac-tiny"


@dataclass(frozen=True)
class CTRData:
    """One CTR sample: labels (None when unlabelled), numeric and categorical features."""

    labels: np.ndarray | None  # int8 [n]
    numeric: np.ndarray  # float32 [n, 13], NaN = missing
    categorical: np.ndarray  # str [n, 26], "" = missing

    def __len__(self) -> int:
        return self.numeric.shape[0]


def load_criteo(path: str | Path) -> CTRData:
    """Read a Criteo CSV (with header) or TSV (without); raise ValueError on malformed rows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Criteo file at {path}")
    with path.open(newline="") as handle:
        first = handle.readline()
        handle.seek(0)
        if "\t" in first:
            rows = list(csv.reader(handle, delimiter="\t"))
            columns = ["Label", *NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS]
        else:
            reader = csv.reader(handle)
            columns = next(reader)
            rows = list(reader)
    missing = set(NUMERIC_COLUMNS + CATEGORICAL_COLUMNS) - set(columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    index = {name: i for i, name in enumerate(columns)}
    has_label = "Label" in index
    labels = np.zeros(len(rows), dtype=np.int8)
    numeric = np.full((len(rows), N_NUMERIC), np.nan, dtype=np.float32)
    categorical = np.empty((len(rows), N_CATEGORICAL), dtype=object)
    numeric_at = [index[c] for c in NUMERIC_COLUMNS]
    categorical_at = [index[c] for c in CATEGORICAL_COLUMNS]
    for r, row in enumerate(rows):
        if len(row) != len(columns):
            raise ValueError(f"{path}: row {r + 1} has {len(row)} fields, expected {len(columns)}")
        try:
            if has_label:
                labels[r] = int(row[index["Label"]])
            for j, at in enumerate(numeric_at):
                if row[at] != "":
                    numeric[r, j] = float(row[at])
        except ValueError as error:
            raise ValueError(f"{path}: row {r + 1}: {error}") from None
        categorical[r] = [row[at] for at in categorical_at]
    if has_label and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{path}: labels must be 0 or 1")
    return CTRData(labels if has_label else None, numeric, categorical.astype(str))


def load_criteo_tiny(split: str = "train") -> CTRData:
    """The shared tiny Kaggle sample; only ``train`` is labelled."""
    if split not in ("train", "test"):
        raise ValueError("split must be 'train' or 'test'")
    return load_criteo(dataset_path(DATASET) / f"{split}.tiny.csv")
