"""Each serving process's in-memory inventory: every ad of a live campaign as numpy arrays, with
targeting as boolean masks, the slots, and per model version and slot a pre-ranking score.

A request reads one row (the ``Inventory`` generation) to know whether its copy still holds,
filters the arrays instead of querying ads, and asks the database only about the few campaigns
it is about to show (status and spend, live). Campaigns found over budget or over their pacing
line are remembered as blocked until their line passes their spend (spend only grows during a
day), so the next requests skip them without asking.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

import numpy as np

from .history import department
from .models import Ad, Campaign, Inventory, Slot

# How long a campaign found blocked is skipped before it is asked about again at most (an
# edit outside the admin, a queryset update, moves no generation).
RECHECK_SECONDS = 30.0


@dataclass(frozen=True)
class SlotInfo:
    pk: int
    name: str
    positions: int
    reserve: float


def _masks(values: list[list[str]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """For a targeting list per ad: which ads target nothing (everyone) and, per value, which
    ads name it."""
    untargeted = np.array([not v for v in values], dtype=bool)
    named: dict[str, np.ndarray] = {}
    for row, wanted in enumerate(values):
        for value in wanted:
            named.setdefault(str(value), np.zeros(len(values), dtype=bool))[row] = True
    return untargeted, named


@dataclass
class AdBook:
    generation: int
    slots: dict[str, SlotInfo]
    ad_pks: np.ndarray
    ad_ids: np.ndarray  # str
    campaigns: np.ndarray  # campaign pk per ad
    bids: np.ndarray
    starts: np.ndarray  # unix seconds
    ends: np.ndarray
    item_ids: np.ndarray  # str
    categories: np.ndarray  # str
    departments: np.ndarray  # str
    segments: tuple[np.ndarray, dict[str, np.ndarray]]
    locations: tuple[np.ndarray, dict[str, np.ndarray]]
    page_categories: tuple[np.ndarray, dict[str, np.ndarray]]
    row_of: dict[str, int]
    # departments as codes into department_names (serving looks a user's purchases up per name)
    department_names: list[str] = field(default_factory=list)
    department_codes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    blocked: dict[int, float] = field(default_factory=dict)  # campaign pk -> skip until
    _derived: dict = field(default_factory=dict)  # (what, version, ...) -> array
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self.ad_pks)

    def eligible(
        self, user, page_category: str, reserve: float, now: float, rows: np.ndarray
    ) -> np.ndarray:
        """Which of these ads are in date, bid at least the reserve, target this user and page,
        are not known to be blocked, and are not of a campaign the user saw up to the frequency
        cap today."""
        mask = (self.starts[rows] <= now) & (self.ends[rows] > now) & (self.bids[rows] >= reserve)
        mask &= self._targeted(self.segments, user.segments if user else (), rows)
        located = [user.location] if user and user.location else ()
        mask &= self._targeted(self.locations, located, rows)
        prefixes = [page_category[:i] for i in range(1, len(page_category) + 1)]
        mask &= self._targeted(self.page_categories, prefixes, rows)
        blocked = [pk for pk, until in self.blocked.items() if until > now]
        if user is not None:
            blocked += user.capped
        if blocked:
            mask &= ~np.isin(self.campaigns[rows], blocked)
        return mask

    @staticmethod
    def _targeted(masks, values, rows) -> np.ndarray:
        untargeted, named = masks
        hit = untargeted[rows]
        for value in values:
            found = named.get(str(value))
            if found is not None:
                hit |= found[rows]
        return hit

    def derived(self, key: tuple, build):
        """A value computed once per inventory (pre-ranking scores of a version and slot)."""
        found = self._derived.get(key)
        if found is None:
            with self._lock:
                found = self._derived.get(key)
                if found is None:
                    found = self._derived[key] = build()
        return found

    def block(self, campaign: int, now: float, until: float) -> None:
        """Skip ``campaign`` until ``until`` (unix seconds), or RECHECK_SECONDS at most."""
        self.blocked[campaign] = min(until, now + RECHECK_SECONDS)


def bump_generation() -> None:
    """A new random generation: it matches no copy any process built before (a counter could
    come back to an old value after a database is reset, as between tests)."""
    Inventory.objects.update_or_create(pk=1, defaults={"generation": secrets.randbits(62)})


def current_generation() -> int:
    return Inventory.objects.filter(pk=1).values_list("generation", flat=True).first() or 0


def build(generation: int) -> AdBook:
    slots = {
        name: SlotInfo(pk, name, positions, float(reserve))
        for pk, name, positions, reserve in Slot.objects.values_list(
            "pk", "name", "positions", "reserve_price"
        )
    }
    ads = list(
        Ad.objects.filter(campaign__status=Campaign.Status.ACTIVE)
        .order_by("ad_id")
        .values_list(
            "pk",
            "ad_id",
            "campaign_id",
            "campaign__bid_per_click",
            "campaign__start",
            "campaign__end",
            "item__external_id",
            "item__category",
            "campaign__target_segments",
            "campaign__target_locations",
            "campaign__target_categories",
        )
    )
    columns = list(zip(*ads, strict=True)) if ads else [()] * 11
    categories = np.array(columns[7], dtype=str)
    departments = np.array([department(c) for c in categories.tolist()], dtype=str)
    names, codes = np.unique(departments, return_inverse=True)
    return AdBook(
        generation=generation,
        slots=slots,
        ad_pks=np.array(columns[0], dtype=np.int64),
        ad_ids=np.array(columns[1], dtype=str),
        campaigns=np.array(columns[2], dtype=np.int64),
        bids=np.array([float(b) for b in columns[3]], dtype=np.float64),
        starts=np.array([s.timestamp() for s in columns[4]], dtype=np.float64),
        ends=np.array([e.timestamp() for e in columns[5]], dtype=np.float64),
        item_ids=np.array(columns[6], dtype=str),
        categories=categories,
        departments=departments,
        segments=_masks([list(v or ()) for v in columns[8]]),
        locations=_masks([list(v or ()) for v in columns[9]]),
        page_categories=_masks([list(v or ()) for v in columns[10]]),
        row_of={ad_id: row for row, ad_id in enumerate(columns[1])},
        department_names=names.tolist(),
        department_codes=codes.reshape(-1).astype(np.int64),
    )


class Books:
    """This process's current inventory, rebuilt when the generation moves."""

    def __init__(self):
        self._book: AdBook | None = None
        self._lock = threading.Lock()

    def get(self, generation: int | None = None) -> AdBook:
        """The book of ``generation`` (read now when not given; read it before building: a
        later change moves it)."""
        if generation is None:
            generation = current_generation()
        book = self._book
        if book is None or book.generation != generation:
            with self._lock:
                book = self._book
                if book is None or book.generation != generation:
                    book = self._book = build(generation)
        return book

    def clear(self) -> None:
        self._book = None


books = Books()
