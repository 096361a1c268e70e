"""PNG plots for the admin pages (matplotlib, Agg backend, imported on first use)."""

from __future__ import annotations

import io
from typing import Any


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    _pyplot().close(fig)
    return buffer.getvalue()


def daily_rates(series: dict[str, dict], title: str) -> bytes:
    """The share of responses clicked per day, one line per arm, and the responses served per
    day beneath it. ``series``: arm -> {day: (responses, clicked responses)}."""
    fig, (rates, volume) = _pyplot().subplots(2, 1, figsize=(7, 4.5), sharex=True)
    for arm, days in series.items():
        served = [(day, n, hits) for day, (n, hits) in sorted(days.items()) if n]
        if not served:
            continue
        dates = [day for day, _, _ in served]
        rates.plot(dates, [100 * hits / n for _, n, hits in served], marker="o", label=arm)
        volume.plot(dates, [n for _, n, _ in served], marker="o", label=arm)
    rates.set_ylabel("responses clicked (%)")
    volume.set_ylabel("responses")
    for axis in (rates, volume):
        axis.grid(alpha=0.3)
    rates.legend()
    fig.suptitle(title)
    fig.autofmt_xdate()
    return _png(fig)


def metric_by_version(versions: list[dict[str, Any]], metric: str, title: str) -> bytes:
    """The held-out metric of each evaluated version in training order; versions that were
    ever promoted are starred. ``versions``: dicts with ``pk``, ``algorithm``, ``value`` and
    ``promoted``."""
    fig, axis = _pyplot().subplots(figsize=(7, 3.2))
    positions = range(len(versions))
    axis.plot(positions, [v["value"] for v in versions], marker="o", color="tab:blue")
    starred = [(i, v["value"]) for i, v in enumerate(versions) if v["promoted"]]
    if starred:
        axis.scatter(
            *zip(*starred, strict=True),
            marker="*",
            s=180,
            color="tab:orange",
            label="promoted",
            zorder=3,
        )
        axis.legend()
    axis.set_xticks(list(positions), [f"v{v['pk']}\n{v['algorithm']}" for v in versions])
    axis.set_ylabel(metric)
    axis.grid(alpha=0.3)
    fig.suptitle(title)
    return _png(fig)


def daily_activity(days: dict[Any, dict[str, int]], title: str) -> bytes:
    """Answers, clicks and outcomes per day, and the click and outcome rates beneath them.
    ``days``: day -> {"impressions", "clicks", "outcomes"}."""
    fig, (counts, rates) = _pyplot().subplots(2, 1, figsize=(7, 4.5), sharex=True)
    dates = sorted(days)
    for name in ("impressions", "clicks", "outcomes"):
        counts.plot(dates, [days[d][name] for d in dates], marker="o", label=name)
    served = [d for d in dates if days[d]["impressions"]]
    for name in ("clicks", "outcomes"):
        rates.plot(
            served,
            [100 * days[d][name] / days[d]["impressions"] for d in served],
            marker="o",
            label=f"{name} per answer",
        )
    counts.set_ylabel("per day")
    rates.set_ylabel("% of answers")
    for axis in (counts, rates):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.suptitle(title)
    fig.autofmt_xdate()
    return _png(fig)
