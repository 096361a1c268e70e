"""Per-process numpy snapshots of the item catalog, one per set of item kinds, refreshed when
those items change.

Serving filters (hidden, out of stock, category, price) and content similarity run on these
arrays instead of the database. A scenario sees only the item kinds it declares
(``Scenario.item_kinds``): products never answers with an article. A snapshot is rebuilt when
the newest ``updated_at`` or the count of its items changes, checked at most every
``CHECK_SECONDS``, so an item hidden through the API stops being recommended within seconds in
every process.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from django.db.models import Count, Max

from catalog.models import Item

CHECK_SECONDS = 2.0
_builds = itertools.count(1)
ALL_ROWS = slice(None)  # the default "rows" of the masks: the whole catalog
TOKEN = re.compile(r"[a-z0-9]+")


@dataclass
class CatalogSnapshot:
    generation: tuple
    ids: np.ndarray  # external ids, str
    pks: np.ndarray  # primary keys, int64
    titles: np.ndarray
    categories: np.ndarray
    category_codes: np.ndarray  # int index into category_names
    category_names: list[str]
    category_prefixes: np.ndarray  # [n_categories, depth] id of each path prefix, -1 past the end
    category_depths: np.ndarray  # [n_categories] number of path parts
    prices: np.ndarray  # float64, nan when unknown
    visible: np.ndarray  # bool: not hidden and in stock
    available_from: np.ndarray  # unix seconds, -inf when unset
    available_until: np.ndarray  # unix seconds, +inf when unset
    created: np.ndarray  # unix seconds
    row_of: dict[str, int]
    row_of_pk: dict[int, int]
    content: sp.csr_matrix  # L2-normalised TF-IDF of title, category path and tags
    # Which build this is in the process: a rebuild may hold other rows under the same
    # generation (a bulk update leaves updated_at alone), so what was derived from it is stale.
    build: int = field(default_factory=lambda: next(_builds))

    def rows(self, external_ids) -> np.ndarray:
        return np.fromiter(
            (self.row_of.get(str(i), -1) for i in external_ids),
            dtype=np.int64,
            count=len(external_ids),
        )

    def next_opening(self, now: float) -> float:
        """When the next availability window opens (inf when none will): answers kept in a
        process expire then, since the opening item may belong in them."""
        later = self.available_from[self.available_from > now]
        return float(later.min(initial=np.inf))

    def recommendable(self, rows=ALL_ROWS) -> np.ndarray:
        """Visible and inside the availability window now, for ``rows`` (evaluated per request,
        so a window opening needs no rebuild)."""
        now = time.time()
        return (
            self.visible[rows]
            & (self.available_from[rows] <= now)
            & (self.available_until[rows] > now)
        )

    def category_mask(self, category: str, rows=ALL_ROWS) -> np.ndarray:
        """Which of ``rows`` are in ``category`` or below it ("electronics" matches
        "electronics/phones")."""
        prefix = category.strip("/")
        codes = [
            code
            for code, name in enumerate(self.category_names)
            if name == prefix or name.startswith(prefix + "/")
        ]
        return np.isin(self.category_codes[rows], codes)

    def category_closeness(self, first_rows: np.ndarray, second_rows: np.ndarray) -> np.ndarray:
        """[len(first), len(second)] shared path depth over the deeper path ("a/b" vs "a/c" is
        0.5, the same path 1, nothing shared 0), vectorised over prefix ids."""
        first = self.category_codes[first_rows]
        second = self.category_codes[second_rows]
        left, right = self.category_prefixes[first], self.category_prefixes[second]
        equal = (left[:, None, :] == right[None, :, :]) & (left[:, None, :] >= 0)
        shared = np.cumprod(equal, axis=2).sum(axis=2)
        deeper = np.maximum(
            self.category_depths[first][:, None], self.category_depths[second][None, :]
        )
        return shared / np.maximum(deeper, 1)

    def content_similarity(self, row: int) -> np.ndarray:
        return np.asarray((self.content @ self.content[row].T).todense()).ravel()


def _tokens(title: str, category: str, tags) -> list[str]:
    words = TOKEN.findall(title.lower())
    path = [part for part in category.lower().split("/") if part]
    # Category parts count twice: two items in the same leaf category are alike whatever the title.
    return words + [f"cat:{p}" for p in path] * 2 + [f"tag:{str(t).lower()}" for t in tags or []]


def _content_matrix(documents: list[list[str]]) -> sp.csr_matrix:
    vocabulary: dict[str, int] = {}
    rows, cols = [], []
    for row, words in enumerate(documents):
        for word in words:
            rows.append(row)
            cols.append(vocabulary.setdefault(word, len(vocabulary)))
    shape = (len(documents), max(len(vocabulary), 1))
    counts = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
    counts.sum_duplicates()
    doc_frequency = np.asarray((counts > 0).sum(axis=0)).ravel()
    idf = np.log((1 + len(documents)) / (1 + doc_frequency)) + 1.0
    weighted = counts @ sp.diags(idf.astype(np.float32))
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ weighted, dtype=np.float32)


def _items(kinds: tuple[str, ...]):
    return Item.objects.filter(kind__in=kinds)


def _generation(kinds: tuple[str, ...]) -> tuple:
    """Changes when an item of these kinds is added or edited."""
    stats = _items(kinds).aggregate(count=Count("id"), newest=Max("updated_at"))
    return stats["count"], stats["newest"]


def build_snapshot(kinds: tuple[str, ...], generation: tuple | None = None) -> CatalogSnapshot:
    generation = generation or _generation(kinds)
    records = list(
        _items(kinds)
        .order_by("id")
        .values_list(
            "id",
            "external_id",
            "title",
            "category",
            "price",
            "tags",
            "created_at",
            "is_hidden",
            "in_stock",
            "available_from",
            "available_until",
        )
    )
    ids = np.array([r[1] for r in records], dtype=str) if records else np.zeros(0, dtype=str)
    categories = [r[3].strip("/") for r in records]
    category_names = sorted(set(categories))
    code_of = {name: code for code, name in enumerate(category_names)}
    parts = [[p for p in name.split("/") if p] for name in category_names]
    depth = max((len(p) for p in parts), default=1) or 1
    prefix_ids: dict[tuple, int] = {}
    prefixes = np.full((len(parts), depth), -1, dtype=np.int64)
    for code, path in enumerate(parts):
        for level in range(len(path)):
            prefixes[code, level] = prefix_ids.setdefault(tuple(path[: level + 1]), len(prefix_ids))
    return CatalogSnapshot(
        generation=generation,
        ids=ids,
        pks=np.array([r[0] for r in records], dtype=np.int64),
        titles=np.array([r[2] for r in records], dtype=object),
        categories=np.array(categories, dtype=object),
        category_codes=np.array([code_of[c] for c in categories], dtype=np.int64),
        category_names=category_names,
        category_prefixes=prefixes,
        category_depths=np.array([len(p) for p in parts], dtype=np.int64),
        prices=np.array([np.nan if r[4] is None else float(r[4]) for r in records], dtype=float),
        visible=np.array([not r[7] and r[8] for r in records], dtype=bool),
        available_from=np.array([r[9].timestamp() if r[9] else -np.inf for r in records]),
        available_until=np.array([r[10].timestamp() if r[10] else np.inf for r in records]),
        created=np.array([r[6].timestamp() for r in records], dtype=float),
        row_of={external: row for row, external in enumerate(ids.tolist())},
        row_of_pk={r[0]: row for row, r in enumerate(records)},
        content=_content_matrix([_tokens(r[2], r[3], r[5]) for r in records]),
    )


class _CatalogCache:
    def __init__(self, kinds: tuple[str, ...]):
        self.kinds = kinds
        self._snapshot: CatalogSnapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self) -> CatalogSnapshot:
        now = time.monotonic()
        if self._snapshot is not None and now - self._checked < CHECK_SECONDS:
            return self._snapshot
        with self._lock:
            if self._snapshot is None or now - self._checked >= CHECK_SECONDS:
                generation = _generation(self.kinds)
                if self._snapshot is None or self._snapshot.generation != generation:
                    self._snapshot = build_snapshot(self.kinds, generation)
                self._checked = time.monotonic()
        return self._snapshot

    def forget(self) -> None:
        with self._lock:
            self._snapshot = None


class _Snapshots:
    """One :class:`_CatalogCache` per set of item kinds asked for."""

    def __init__(self):
        self._caches: dict[tuple[str, ...], _CatalogCache] = {}
        self._lock = threading.Lock()

    def get(self, kinds: tuple[str, ...]) -> CatalogSnapshot:
        found = self._caches.get(kinds)
        if found is None:
            with self._lock:
                found = self._caches.setdefault(kinds, _CatalogCache(kinds))
        return found.get()

    def forget(self) -> None:
        """Rebuild every snapshot on next use (tests, after bulk catalog changes)."""
        with self._lock:
            for found in self._caches.values():
                found.forget()


snapshots = _Snapshots()
