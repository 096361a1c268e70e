"""Loader for the REES46 "eCommerce behavior data from multi category store" event CSV.

Columns: ``event_time,event_type,product_id,category_id,category_code,brand,price,user_id,
user_session``. Public copies are often cut mid-row (the shared sample is), so a malformed row is
skipped, counted in :attr:`Rees46.skipped_rows` and logged, never fatal; a missing column is a
``ValueError``.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.data import Interactions
from ml.datasets.common import dataset_path

logger = logging.getLogger(__name__)

COLUMNS = (
    "event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price",
    "user_id", "user_session",
)  # fmt: skip
SAMPLE_FILE = "2019-Oct-head.csv"
# A purchase says more than a cart, a cart more than a view; removals carry no preference.
DEFAULT_EVENT_WEIGHTS = {"view": 1.0, "cart": 2.0, "purchase": 4.0, "remove_from_cart": 0.0}


@dataclass(frozen=True)
class ProductTable:
    """Product attributes as last seen in the log, one row per product id."""

    ids: np.ndarray
    category_ids: np.ndarray
    category_codes: np.ndarray  # "" when missing
    brands: np.ndarray  # "" when missing
    prices: np.ndarray


@dataclass(frozen=True)
class Rees46:
    """Events (``extra`` holds ``session`` and ``price`` per event), products, skipped rows."""

    interactions: Interactions
    products: ProductTable
    skipped_rows: int


def _parse_row(row: list[str]) -> tuple[int, float]:
    """Unix seconds and price of one complete row; ValueError when either is malformed."""
    stamp = np.datetime64(row[0].removesuffix(" UTC"), "s")
    if np.isnat(stamp):
        raise ValueError(f"no event time in {row!r}")
    seconds = int(stamp.astype(np.int64))
    return seconds, float(row[6])


def load_rees46(
    path: str | Path | None = None, event_weights: dict[str, float] | None = None
) -> Rees46:
    """Read one REES46 CSV file (default: the shared sample).

    ``event_weights`` maps event types to interaction values (default
    :data:`DEFAULT_EVENT_WEIGHTS`; unlisted types weigh 1.0). Event types stay in
    ``Interactions.event_types`` so callers can re-weight or filter.
    """
    path = Path(path) if path is not None else dataset_path("rees46-ecommerce-events-sample")
    if path.is_dir():
        path = path / SAMPLE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"REES46 events file not found: {path}")
    weights = DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty")
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}; expected {list(COLUMNS)}")
        at = [header.index(name) for name in COLUMNS]
        rows, times, prices, skipped = [], [], [], []
        for line_number, raw in enumerate(reader, start=2):
            if len(raw) != len(header):
                skipped.append(line_number)
                continue
            row = [raw[i] for i in at]
            try:
                seconds, price = _parse_row(row)
            except ValueError:
                skipped.append(line_number)
                continue
            rows.append(row)
            times.append(seconds)
            prices.append(price)
    if skipped:
        logger.warning(
            "%s: skipped %d malformed row(s) (lines %s%s)",
            path,
            len(skipped),
            ", ".join(map(str, skipped[:5])),
            ", ..." if len(skipped) > 5 else "",
        )
    if not rows:
        raise ValueError(f"{path} holds no complete event rows")
    table = np.array(rows, dtype=str)
    event_types = table[:, 1]
    values = np.array([weights.get(kind, 1.0) for kind in event_types.tolist()], np.float32)
    price = np.array(prices, dtype=np.float32)
    interactions = Interactions(
        user_ids=table[:, 7],
        item_ids=table[:, 2],
        values=values,
        timestamps=np.array(times, dtype=np.int64),
        event_types=event_types,
        extra={"session": table[:, 8], "price": price},
    )
    # Last occurrence of each product: unique over the reversed column gives its final row.
    reversed_ids = table[::-1, 2]
    ids, first_from_end = np.unique(reversed_ids, return_index=True)
    last = len(table) - 1 - first_from_end
    products = ProductTable(
        ids=ids,
        category_ids=table[last, 3],
        category_codes=table[last, 4],
        brands=table[last, 5],
        prices=price[last],
    )
    return Rees46(interactions, products, len(skipped))
