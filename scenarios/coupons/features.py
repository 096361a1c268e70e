"""What the uplift model knows of a shopper: their catalog behaviour before a moment.

Training reads each person's events before their assignment (what came after is the outcome),
serving reads them before now; both go through :func:`behaviour_features`, so the model sees
the same columns in both. Pure numpy (the demo generator and the benchmark use it without
Django).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURE_NAMES = (
    "log_views",
    "log_carts",
    "log_purchases",
    "log_spend",
    "days_since_last_event",
    "days_since_first_event",
    "purchases_per_view",
)
NO_HISTORY_DAYS = 365.0  # recency and tenure of someone with no events before the moment
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class Events:
    """Catalog events as arrays: whose (a row index into the people), what, when, at what price."""

    person: np.ndarray  # int [events]
    event_type: np.ndarray  # str [events]
    time: np.ndarray  # float unix seconds [events]
    price: np.ndarray  # float [events], 0 where the item has no price


def behaviour_features(events: Events, cutoff: np.ndarray) -> np.ndarray:
    """[people, len(FEATURE_NAMES)] float64 of each person's events strictly before their
    ``cutoff`` (unix seconds, one per person)."""
    people = len(cutoff)
    before = events.time < cutoff[events.person]
    person = events.person[before]
    kind = events.event_type[before]
    time = events.time[before]

    def count(event_type: str) -> np.ndarray:
        return np.bincount(person[kind == event_type], minlength=people).astype(np.float64)

    views, carts, purchases = count("view"), count("add_to_cart"), count("purchase")
    bought = kind == "purchase"
    spend = np.bincount(
        person[bought], weights=events.price[before][bought], minlength=people
    ).astype(np.float64)
    last = np.full(people, -np.inf)
    np.maximum.at(last, person, time)
    first = np.full(people, np.inf)
    np.minimum.at(first, person, time)
    seen = np.isfinite(last)
    recency = np.where(seen, (cutoff - np.where(seen, last, 0)) / SECONDS_PER_DAY, NO_HISTORY_DAYS)
    tenure = np.where(seen, (cutoff - np.where(seen, first, 0)) / SECONDS_PER_DAY, 0.0)
    return np.column_stack(
        [
            np.log1p(views),
            np.log1p(carts),
            np.log1p(purchases),
            np.log1p(spend),
            np.minimum(recency, NO_HISTORY_DAYS),
            np.minimum(tenure, NO_HISTORY_DAYS),
            purchases / (views + 1.0),
        ]
    )
