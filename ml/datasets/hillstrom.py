"""Loader for the Hillstrom MineThatData e-mail campaign (randomized; uplift benchmark)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.datasets.common import dataset_path

DATASET = "hillstrom-email-uplift"
CONTROL = "No E-Mail"
ARMS = ("Mens E-Mail", "Womens E-Mail")
OUTCOMES = ("visit", "conversion", "spend")
ZIP_CODES = ("Urban", "Surburban", "Rural")
CHANNELS = ("Phone", "Web", "Multichannel")
FEATURE_NAMES = (
    "recency",
    "log_history",
    "mens",
    "womens",
    "newbie",
    *(f"zip_{z.lower()}" for z in ZIP_CODES),
    *(f"channel_{c.lower()}" for c in CHANNELS),
)


@dataclass(frozen=True)
class UpliftData:
    """Features, treatment flag and outcome of one treatment arm against control."""

    features: np.ndarray  # float32 [n, d]
    treatment: np.ndarray  # int8 [n], 1 = received the e-mail
    outcome: np.ndarray  # float32 [n]
    feature_names: tuple[str, ...] = FEATURE_NAMES


@dataclass(frozen=True)
class Hillstrom:
    """The whole file: encoded features, the segment of each customer and the outcomes."""

    features: np.ndarray
    segment: np.ndarray  # str [n]
    outcomes: dict[str, np.ndarray]

    def arm(self, arm: str = "Womens E-Mail", outcome: str = "visit") -> UpliftData:
        """Rows of ``arm`` (treated) and of the control group, with the chosen outcome."""
        if arm not in ARMS:
            raise ValueError(f"arm must be one of {ARMS}")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        rows = np.isin(self.segment, (arm, CONTROL))
        treatment = (self.segment[rows] == arm).astype(np.int8)
        return UpliftData(self.features[rows], treatment, self.outcomes[outcome][rows])


def read_hillstrom(path: str | Path) -> Hillstrom:
    path = Path(path)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path}: no rows")
    features = np.zeros((len(rows), len(FEATURE_NAMES)), dtype=np.float32)
    segment = []
    outcomes = {name: np.zeros(len(rows), dtype=np.float32) for name in OUTCOMES}
    for r, row in enumerate(rows):
        try:
            zip_code, channel = row["zip_code"], row["channel"]
            if zip_code not in ZIP_CODES or channel not in CHANNELS:
                raise ValueError(f"unknown zip_code {zip_code!r} or channel {channel!r}")
            if row["segment"] not in (*ARMS, CONTROL):
                raise ValueError(f"unknown segment {row['segment']!r}")
            features[r, :5] = (
                float(row["recency"]),
                np.log1p(float(row["history"])),
                float(row["mens"]),
                float(row["womens"]),
                float(row["newbie"]),
            )
            features[r, 5 + ZIP_CODES.index(zip_code)] = 1.0
            features[r, 8 + CHANNELS.index(channel)] = 1.0
            for name in OUTCOMES:
                outcomes[name][r] = float(row[name])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: data row {r + 1}: {error}") from None
        segment.append(row["segment"])
    return Hillstrom(features, np.array(segment), outcomes)


def load_hillstrom(folder: str | Path | None = None) -> Hillstrom:
    folder = Path(folder) if folder is not None else dataset_path(DATASET)
    return read_hillstrom(folder / "hillstrom.csv")
