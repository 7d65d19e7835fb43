"""Pictures of a training run: every loss term and the kernel accuracy against the step, and
the held-out learning curve against training time."""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["HELDOUT_PANELS", "plot_heldout", "plot_losses"]


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


HELDOUT_PANELS = (("kernel_10cm", "kernel within 10 cm", 1.0), ("front_back", "front/back", 1.0),
                  ("pck_visible", "PCK@0.1 visible joints", 1.0),
                  ("regression_mm", "regression MPJPE, median (mm)", None))


def plot_heldout(heldout_csv: str | Path, png: str | Path,
                 reference: dict[str, float] | None = None, label: str = "reference") -> None:
    """The learning curve: each held-out readout figure against training minutes, clean and
    occluded; ``reference`` (same keys as the CSV's columns) drawn as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with Path(heldout_csv).open() as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{heldout_csv} has no rows yet")
    minutes = [float(r["seconds"]) / 60 for r in rows]
    fig, axes = plt.subplots(1, len(HELDOUT_PANELS), figsize=(4 * len(HELDOUT_PANELS), 3.6))
    for ax, (key, title, top) in zip(axes, HELDOUT_PANELS, strict=True):
        for condition, colour in (("clean", "tab:blue"), ("occluded", "tab:orange")):
            column = f"{condition}_{key}"
            ax.plot(minutes, [float(r[column]) for r in rows], "o-", color=colour,
                    label=condition)
            if reference and column in reference:
                ax.axhline(reference[column], color=colour, linestyle="--", linewidth=1,
                           label=f"{condition}, {label}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training minutes")
        if top is not None:
            ax.set_ylim(0, top)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"held-out readout of {Path(heldout_csv).parent.name} "
                 f"({rows[-1]['people']} people per condition)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
