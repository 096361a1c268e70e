"""The admin's daily chart of the query log: answer rate, helpfulness and hand-off rate."""

from __future__ import annotations

import io

from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from .models import QueryLog


def daily_rates(logs=None) -> list[dict]:
    """Per day (UTC): queries, and the shares answered (not handed off), rated helpful (of
    those rated) and handed off, in percent (None for a day with nothing rated)."""
    rows = (
        (logs if logs is not None else QueryLog.objects.all())
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            queries=Count("id"),
            handed_off=Count("id", filter=Q(handed_off=True)),
            rated=Count("id", filter=Q(helpful__isnull=False)),
            helpful=Count("id", filter=Q(helpful=True)),
        )
        .order_by("day")
    )
    return [
        {
            "day": row["day"],
            "queries": row["queries"],
            "answer_rate": 100 * (row["queries"] - row["handed_off"]) / row["queries"],
            "helpful_rate": 100 * row["helpful"] / row["rated"] if row["rated"] else None,
            "handoff_rate": 100 * row["handed_off"] / row["queries"],
        }
        for row in rows
    ]


def daily_png(days: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rates, volume) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    dates = [d["day"] for d in days]
    for key, label in (
        ("answer_rate", "answered"),
        ("helpful_rate", "helpful (of rated)"),
        ("handoff_rate", "handed off"),
    ):
        points = [(d["day"], d[key]) for d in days if d[key] is not None]
        if points:
            rates.plot(*zip(*points, strict=True), marker="o", label=label)
    volume.bar(dates, [d["queries"] for d in days], color="tab:gray")
    rates.set_ylabel("% of queries")
    rates.set_ylim(0, 100)
    volume.set_ylabel("queries")
    rates.grid(alpha=0.3)
    volume.grid(alpha=0.3)
    if days:
        rates.legend(fontsize="small")
    fig.suptitle("FAQ answers per day")
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
