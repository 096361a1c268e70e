"""Training history (loss and validation metrics per epoch) and its plot."""

from __future__ import annotations

from pathlib import Path


class TrainingHistory:
    """Per-epoch values of named series, e.g. ``loss`` and ``val_ndcg@10``."""

    def __init__(self, series: dict[str, list[float]] | None = None):
        self.series: dict[str, list[float]] = {k: list(v) for k, v in (series or {}).items()}

    def log(self, **values: float) -> None:
        for name, value in values.items():
            self.series.setdefault(name, []).append(float(value))

    def last(self, name: str) -> float | None:
        values = self.series.get(name)
        return values[-1] if values else None

    def __len__(self) -> int:
        return max((len(v) for v in self.series.values()), default=0)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in self.series.items()}

    def plot(self, path: str | Path, title: str = "Training history") -> Path:
        """Render every series against the epoch as a PNG (one panel per series)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        names = list(self.series) or ["(empty)"]
        fig, axes = plt.subplots(len(names), 1, figsize=(6, 2.2 * len(names)), squeeze=False)
        for ax, name in zip(axes[:, 0], names, strict=True):
            values = self.series.get(name, [])
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3)
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("epoch")
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path
