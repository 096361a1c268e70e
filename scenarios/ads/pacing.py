"""Even pacing of a daily budget, and the clock the ad server reads (tests move it).

A campaign may be shown while what it spent today is under its daily budget times the elapsed
fraction of the (UTC) day, plus ``slack`` of the budget ahead of that line. Spend only grows
during a day, so a campaign over its line stays over it until the line passes its spend: the
serving process need not ask again before then (:func:`paced_until`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

DAY_SECONDS = 86_400.0


def now() -> datetime:
    return timezone.now()


def day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def elapsed_fraction(moment: datetime) -> float:
    return (moment - day_start(moment)).total_seconds() / DAY_SECONDS


def allowance(daily_budget: float, moment: datetime, slack: float) -> float:
    """What a campaign may have spent by ``moment`` on its way to ``daily_budget``."""
    return daily_budget * min(1.0, elapsed_fraction(moment) + slack)


def paced_until(spent_today: float, daily_budget: float, moment: datetime, slack: float) -> float:
    """Unix time from which the pacing line is above ``spent_today`` (its next day's start when
    the day's budget is spent)."""
    start = day_start(moment)
    if daily_budget <= 0 or spent_today >= daily_budget:
        return (start + timedelta(days=1)).timestamp()
    fraction = max(0.0, spent_today / daily_budget - slack)
    return start.timestamp() + fraction * DAY_SECONDS
