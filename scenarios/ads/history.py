"""The CTR model's user-history features: how many ads the user was shown and clicked, how many
purchases they made, and how many in the department of the ad's item.

Training counts only what happened before each impression (a click never explains itself); at
serving the same numbers come from the user's ``UserHistory`` row, read with the user, so the
request path runs no history query.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Count, F

from catalog.models import Interaction

from .models import Click, UserHistory

PURCHASE = "purchase"
HISTORY_COLUMNS = ("ad_impressions", "ad_clicks", "purchases", "purchases_in_department")


def department(category: str) -> str:
    return category.split("/", 1)[0]


def purchase_log() -> dict[int, list[tuple[float, str]]]:
    """Each user's purchases as (unix time, department), oldest first."""
    log = defaultdict(list)
    rows = (
        Interaction.objects.filter(event_type=PURCHASE)
        .values_list("user_id", "timestamp", "item__category")
        .order_by("timestamp")
        .iterator()
    )
    for user, when, category in rows:
        log[user].append((when.timestamp(), department(category)))
    return log


def point_in_time(
    users: list[int | None], times: list[float], departments: list[str]
) -> tuple[np.ndarray, dict[int, dict]]:
    """History features [n, 4] of impressions (sorted by time), each from the events before it,
    and every user's totals over the whole log (what ``UserHistory`` should hold)."""
    click_times = defaultdict(list)
    for user, when in Click.objects.values_list("user_id", "timestamp").order_by("timestamp"):
        click_times[user].append(when.timestamp())
    purchases = purchase_log()
    purchase_times = {user: [t for t, _ in events] for user, events in purchases.items()}
    by_department = {user: _times_by_department(events) for user, events in purchases.items()}
    shown = defaultdict(int)
    features = np.zeros((len(users), len(HISTORY_COLUMNS)))
    for row, (user, when, dept) in enumerate(zip(users, times, departments, strict=True)):
        if user is None:
            continue
        features[row] = (
            shown[user],
            bisect_left(click_times.get(user, ()), when),
            bisect_left(purchase_times.get(user, ()), when),
            bisect_left(by_department.get(user, {}).get(dept, ()), when),
        )
        shown[user] += 1
    totals = {}
    for user in set(shown) | set(click_times) | set(purchases):
        departments_bought = defaultdict(int)
        for _, dept in purchases.get(user, ()):
            departments_bought[dept] += 1
        totals[user] = {
            "impressions": shown.get(user, 0),
            "clicks": len(click_times.get(user, ())),
            "purchases": dict(departments_bought),
        }
    return features, totals


def _times_by_department(events: list[tuple[float, str]]) -> dict[str, list[float]]:
    times = defaultdict(list)
    for when, dept in events:
        times[dept].append(when)
    return times


def write_totals(totals: dict[int, dict]) -> None:
    """Replace every user's history with the totals a training counted from the logs."""
    with transaction.atomic():
        UserHistory.objects.all().delete()
        UserHistory.objects.bulk_create(
            (UserHistory(user_id=user, **counts) for user, counts in totals.items()),
            batch_size=2000,
        )


def refresh_purchases(user_ids: list[str]) -> None:
    """Recount the purchases by department of these users (external ids)."""
    counts = defaultdict(dict)
    rows = (
        Interaction.objects.filter(user__external_id__in=user_ids, event_type=PURCHASE)
        .values_list("user_id", "item__category")
        .annotate(n=Count("id"))
    )
    for user, category, n in rows:
        dept = department(category)
        counts[user][dept] = counts[user].get(dept, 0) + n
    if not counts:
        return
    UserHistory.objects.bulk_create(
        [UserHistory(user_id=user, purchases=bought) for user, bought in counts.items()],
        update_conflicts=True,
        unique_fields=["user"],
        update_fields=["purchases"],
    )


def count_click(user_id: int) -> None:
    _add(user_id, "clicks", 1)


def _add(user_id: int, field: str, n: int) -> None:
    """Add ``n`` to one counter of the user's row, creating the row on first use."""
    if UserHistory.objects.filter(user_id=user_id).update(**{field: F(field) + n}):
        return
    try:
        with transaction.atomic():
            UserHistory.objects.create(user_id=user_id, **{field: n})
    except IntegrityError:  # created meanwhile by a parallel request
        UserHistory.objects.filter(user_id=user_id).update(**{field: F(field) + n})
