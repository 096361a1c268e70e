"""Interaction logs as numpy columns, id maps, and the users x items matrix models train on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


class IdMap:
    """Bidirectional map between external string ids and dense 0..n-1 indices."""

    def __init__(self, ids: np.ndarray | list[str] | None = None):
        self.ids = np.asarray([] if ids is None else ids, dtype=str)
        self._index = {value: i for i, value in enumerate(self.ids.tolist())}
        if len(self._index) != len(self.ids):
            raise ValueError("IdMap ids must be unique")

    @classmethod
    def from_values(cls, values: np.ndarray) -> IdMap:
        """Ids in order of first appearance."""
        _, first = np.unique(np.asarray(values, dtype=str), return_index=True)
        return cls(np.asarray(values, dtype=str)[np.sort(first)])

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, value: str) -> bool:
        return value in self._index

    def index(self, values, missing: int = -1) -> np.ndarray:
        """Indices of ``values``; ``missing`` for ids not in the map."""
        return np.fromiter(
            (self._index.get(v, missing) for v in np.asarray(values, dtype=str).tolist()),
            dtype=np.int64,
            count=len(values),
        )

    def get(self, value: str, missing: int = -1) -> int:
        return self._index.get(value, missing)


@dataclass
class Interactions:
    """An event log in columns. ``value`` is the weight (rating, count, or 1.0)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray
    event_types: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        self.user_ids = np.asarray(self.user_ids, dtype=str)
        self.item_ids = np.asarray(self.item_ids, dtype=str)
        self.values = np.asarray(self.values, dtype=np.float32)
        self.timestamps = np.asarray(self.timestamps, dtype=np.int64)
        if self.event_types is not None:
            self.event_types = np.asarray(self.event_types, dtype=str)
        n = len(self.user_ids)
        columns = [self.item_ids, self.values, self.timestamps]
        columns += [self.event_types] if self.event_types is not None else []
        columns += list(self.extra.values())
        if any(len(column) != n for column in columns):
            raise ValueError("all interaction columns must have the same length")

    def __len__(self) -> int:
        return len(self.user_ids)

    def subset(self, mask_or_index: np.ndarray) -> Interactions:
        return Interactions(
            self.user_ids[mask_or_index],
            self.item_ids[mask_or_index],
            self.values[mask_or_index],
            self.timestamps[mask_or_index],
            None if self.event_types is None else self.event_types[mask_or_index],
            {k: v[mask_or_index] for k, v in self.extra.items()},
        )

    def to_matrix(
        self, users: IdMap | None = None, items: IdMap | None = None, binary: bool = False
    ) -> tuple[sp.csr_matrix, IdMap, IdMap]:
        """Users x items CSR of summed values; rows/columns for ids outside given maps dropped."""
        users = users or IdMap.from_values(self.user_ids)
        items = items or IdMap.from_values(self.item_ids)
        rows, cols = users.index(self.user_ids), items.index(self.item_ids)
        keep = (rows >= 0) & (cols >= 0)
        data = np.ones(keep.sum(), np.float32) if binary else self.values[keep]
        matrix = sp.csr_matrix(
            (data, (rows[keep], cols[keep])), shape=(len(users), len(items)), dtype=np.float32
        )
        matrix.sum_duplicates()
        if binary:
            matrix.data[:] = 1.0
        return matrix, users, items
