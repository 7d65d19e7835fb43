"""Picture of a training run: every loss term and the kernel accuracy against the step."""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["plot_losses"]


def plot_losses(log_csv: str | Path, png: str | Path) -> None:
    """Plot the columns of a training log.csv into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with Path(log_csv).open() as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{log_csv} has no logged steps yet")
    steps = [int(r["step"]) for r in rows]
    terms = ["loss", "contrastive", "twin", "background", "heatmaps", "centre", "size",
             "regression"]
    # Logs from before the twin term lack its column; a term left out is all 0, which a log
    # scale cannot draw.
    terms = [t for t in terms if t in rows[0] and any(float(r[t]) for r in rows)]
    fig, (ax, acc) = plt.subplots(1, 2, figsize=(11, 4))
    for term in terms:
        ax.plot(steps, [float(r[term]) for r in rows], label=term,
                linewidth=2.0 if term == "loss" else 1.0)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (batch mean)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    acc.plot(steps, [float(r["kernel_accuracy"]) for r in rows], color="tab:green")
    acc.set_xlabel("step")
    acc.set_ylabel("kernel accuracy (argmax over all kernels)")
    acc.set_ylim(0, 1)
    acc.grid(alpha=0.3)
    fig.suptitle(f"training run {Path(log_csv).parent.name}")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
