"""Loader for a generic interaction CSV: ``user_id,item_id[,value][,timestamp][,event_type]``.

The format a store exports when it has no other: a header row, one event per line. ``value``
defaults to 1.0 (implicit feedback) and ``timestamp`` to 0 when their columns are absent;
timestamps are unix seconds or ISO 8601 dates (naive ones read as UTC). Any malformed row is a
``ValueError`` naming its line, since a silently dropped row would bias training.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ml.data import Interactions

REQUIRED = ("user_id", "item_id")


def parse_timestamp(text: str) -> int:
    """Unix seconds from ``"1700000000"`` or an ISO 8601 date such as ``"2023-11-14 22:13:20"``."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.removesuffix(" UTC"))
    except ValueError:
        raise ValueError(
            f"timestamp {text!r} is neither unix seconds nor an ISO 8601 date"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def load_interactions_csv(
    path: str | Path,
    user_column: str = "user_id",
    item_column: str = "item_id",
    value_column: str = "value",
    timestamp_column: str = "timestamp",
    event_column: str = "event_type",
    delimiter: str = ",",
) -> Interactions:
    """Read the CSV at ``path``; column names are configurable for exports that differ."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"interaction CSV not found: {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = [name.strip() for name in next(reader, [])]
        missing = [name for name in (user_column, item_column) if name not in header]
        if missing:
            raise ValueError(
                f"{path}: missing required column(s) {missing}; header is {header}, expected "
                f"{user_column},{item_column}[,{value_column}][,{timestamp_column}][,{event_column}]"
            )
        at = {name: header.index(name) for name in header}
        columns: dict[str, list] = {"user": [], "item": [], "value": [], "time": [], "event": []}
        for line_number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{path}: line {line_number} has {len(row)} fields, expected {len(header)}"
                )
            user, item = row[at[user_column]].strip(), row[at[item_column]].strip()
            if not user or not item:
                raise ValueError(f"{path}: line {line_number} has an empty user or item id")
            try:
                value = float(row[at[value_column]]) if value_column in at else 1.0
                moment = parse_timestamp(row[at[timestamp_column]]) if timestamp_column in at else 0
            except ValueError as error:
                raise ValueError(f"{path}: line {line_number}: {error}") from None
            if not np.isfinite(value):
                raise ValueError(f"{path}: line {line_number}: value must be a finite number")
            columns["user"].append(user)
            columns["item"].append(item)
            columns["value"].append(value)
            columns["time"].append(moment)
            if event_column in at:
                columns["event"].append(row[at[event_column]].strip())
    if not columns["user"]:
        raise ValueError(f"{path} holds no interactions")
    return Interactions(
        user_ids=np.array(columns["user"], dtype=str),
        item_ids=np.array(columns["item"], dtype=str),
        values=np.array(columns["value"], dtype=np.float32),
        timestamps=np.array(columns["time"], dtype=np.int64),
        event_types=np.array(columns["event"], dtype=str) if event_column in at else None,
    )
