"""The admin's daily chart of a campaign: spend, impressions and clicks per day (UTC)."""

from __future__ import annotations

import io

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from .models import Click, Impression


def daily_stats(campaign) -> list[dict]:
    """Per day with any impression or click: impressions, clicks, spend and CTR (%)."""
    days: dict = {}
    shown = (
        Impression.objects.filter(ad__campaign=campaign)
        .annotate(day=TruncDate("timestamp"))
        .values_list("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    for day, n in shown:
        days.setdefault(day, {"impressions": 0, "clicks": 0, "spend": 0.0})["impressions"] = n
    clicked = (
        Click.objects.filter(ad__campaign=campaign)
        .annotate(day=TruncDate("timestamp"))
        .values_list("day")
        .annotate(n=Count("id"), spend=Sum("price"))
        .order_by()
    )
    for day, n, spend in clicked:
        row = days.setdefault(day, {"impressions": 0, "clicks": 0, "spend": 0.0})
        row.update(clicks=n, spend=float(spend or 0))
    return [
        {
            "day": day,
            **row,
            "ctr": 100 * row["clicks"] / row["impressions"] if row["impressions"] else None,
        }
        for day, row in sorted(days.items())
    ]


def daily_png(days: list[dict], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (spend, volume) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    dates = [d["day"] for d in days]
    spend.bar(dates, [d["spend"] for d in days], color="tab:green")
    spend.set_ylabel("spend")
    volume.plot(dates, [d["impressions"] for d in days], marker="o", label="impressions")
    volume.plot(dates, [d["clicks"] for d in days], marker="o", label="clicks")
    volume.set_ylabel("count")
    for axis in (spend, volume):
        axis.grid(alpha=0.3)
    if days:
        volume.legend(fontsize="small")
    fig.suptitle(f"{title}: per day")
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
