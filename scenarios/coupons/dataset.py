"""The training data: the assignment log joined with who bought afterwards.

A row is a person's first assignment of one offer in one group (treatment, or held out from
it); its features are their catalog behaviour before that moment and its outcome whether they
bought (a catalog purchase or a redemption) within ``outcome_window_days`` after it. Rows whose
window has not closed yet are left out: their outcome is not known.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db.models import Min
from django.utils import timezone

from catalog.models import Interaction
from scenarios.coupons.features import Events, behaviour_features
from scenarios.coupons.models import Assignment, Redemption

PURCHASE = "purchase"


@dataclass(frozen=True)
class AssignmentLog:
    user: np.ndarray  # int [rows], catalog user pk
    offer: np.ndarray  # int [rows], Offer pk
    treated: np.ndarray  # int8 [rows]
    features: np.ndarray  # float64 [rows, features]
    converted: np.ndarray  # float64 [rows] of 0/1

    def snapshot(self) -> dict:
        return {
            "rows": int(len(self.user)),
            "people": int(len(np.unique(self.user))),
            "treated": int(self.treated.sum()),
            "conversions": int(self.converted.sum()),
        }


def features_at(user_pks: np.ndarray, moments: np.ndarray) -> np.ndarray:
    """Behaviour features of each (user, moment) pair, from the catalog's events."""
    user_pks = np.asarray(user_pks, dtype=np.int64)
    unique, row_user = np.unique(user_pks, return_inverse=True)
    rows_by_user = np.argsort(row_user, kind="stable")
    counts = np.bincount(row_user, minlength=len(unique))
    starts = np.cumsum(counts) - counts
    events = list(
        Interaction.objects.filter(user_id__in=unique.tolist()).values_list(
            "user_id", "event_type", "timestamp", "item__price"
        )
    )
    if not events:
        return behaviour_features(_no_events(), np.asarray(moments, dtype=np.float64))
    owner = np.searchsorted(unique, np.fromiter((e[0] for e in events), np.int64, len(events)))
    kinds = np.array([e[1] for e in events], dtype=str)
    times = np.fromiter((e[2].timestamp() for e in events), np.float64, len(events))
    prices = np.fromiter((float(e[3] or 0) for e in events), np.float64, len(events))
    # Repeat each event once per row of its user, so a user assigned twice is cut twice.
    repeats = counts[owner]
    event_index = np.repeat(np.arange(len(events)), repeats)
    within = np.arange(repeats.sum()) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    person = rows_by_user[np.repeat(starts[owner], repeats) + within]
    expanded = Events(person, kinds[event_index], times[event_index], prices[event_index])
    return behaviour_features(expanded, np.asarray(moments, dtype=np.float64))


def _no_events() -> Events:
    empty = np.zeros(0)
    return Events(empty.astype(np.int64), empty.astype(str), empty, empty)


def purchase_times(user_pks) -> dict[int, list[float]]:
    """Sorted unix times of each user's purchases and redemptions."""
    times: dict[int, list[float]] = {}
    purchases = Interaction.objects.filter(user_id__in=user_pks, event_type=PURCHASE).values_list(
        "user_id", "timestamp"
    )
    redemptions = Redemption.objects.filter(user_id__in=user_pks).values_list(
        "user_id", "timestamp"
    )
    for user_pk, moment in [*purchases, *redemptions]:
        times.setdefault(user_pk, []).append(moment.timestamp())
    for values in times.values():
        values.sort()
    return times


def bought_within(times: dict[int, list[float]], user_pk: int, start: float, window: float):
    """Whether ``user_pk`` bought in (start, start + window]."""
    values = times.get(user_pk, [])
    position = bisect.bisect_right(values, start)
    return position < len(values) and values[position] <= start + window


def build_log(settings: dict) -> AssignmentLog:
    window = timedelta(days=settings["outcome_window_days"])
    first = list(
        Assignment.objects.filter(timestamp__lte=timezone.now() - window)
        .values("user_id", "offer_id", "group")
        .annotate(first=Min("timestamp"))
        .order_by("user_id", "offer_id", "group")
        .values_list("user_id", "offer_id", "group", "first")
    )
    if not first:
        raise ValueError(
            "no assignment whose outcome window has closed: serve offers (the untrained "
            "scenario hands out one at random) and wait outcome_window_days"
        )
    users = np.array([row[0] for row in first], dtype=np.int64)
    moments = np.array([row[3].timestamp() for row in first])
    times = purchase_times(np.unique(users).tolist())
    seconds = window.total_seconds()
    converted = np.array(
        [bought_within(times, int(u), t, seconds) for u, t in zip(users, moments, strict=True)],
        dtype=np.float64,
    )
    return AssignmentLog(
        user=users,
        offer=np.array([row[1] for row in first], dtype=np.int64),
        treated=np.array([row[2] == Assignment.Group.TREATMENT for row in first], dtype=np.int8),
        features=features_at(users, moments),
        converted=converted,
    )
