"""An evaluation's Markdown report and plots (error per frame, error against the true
occluded fraction, per-joint errors split by visibility, latency histogram)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["markdown_report", "save_plots"]


def _fmt(value: Any, digits: int = 1, scale: float = 1.0, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value * scale:.{digits}f}{unit}"


def markdown_report(results: dict[str, dict[str, Any]], title: str, notes: list[str]) -> str:
    """One table row per bag (and the merged total) with the headline figures."""
    lines = [f"# {title}", ""]
    lines += [f"- {note}" for note in notes]
    lines += ["", "| bag | frames | people found | MPJPE (mm) | PA-MPJPE (mm) | PCK@150mm | "
              "2D PCK@0.1 | error visible / occluded (mm) | visibility acc. / AUC | "
              "id switches | accel. error (mm) | latency p50 / p95 (ms) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in results.items():
        lat = m["latency_ms"] if m["latency_ms"]["p50"] is not None else m["processing_ms"]
        lines.append(
            f"| {name} | {m['frames']} | {m['matched_people']} / {m['true_people']} | "
            f"{_fmt(m['mpjpe_mm'])} | {_fmt(m['pa_mpjpe_mm'])} | "
            f"{_fmt(m['pck3d_150mm'], 1, 100, ' %')} | {_fmt(m['pck2d_0.1'], 1, 100, ' %')} | "
            f"{_fmt(m['error_visible_mm'])} / {_fmt(m['error_occluded_mm'])} | "
            f"{_fmt(m['visibility_accuracy'], 2)} / {_fmt(m['visibility_auc'], 2)} | "
            f"{m['id_switches']} | {_fmt(m['acceleration_error_mm'])} | "
            f"{_fmt(lat['p50'], 0)} / {_fmt(lat['p95'], 0)} |")
    lines += ["", "Latency is image stamp to reception in live mode and pipeline time per "
              "frame offline. Plots: `plots.png`."]
    return "\n".join(lines) + "\n"


def save_plots(metrics: dict[str, Any], png: Path, title: str) -> None:
    """Four panels of one evaluation (usually the merged one)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    frames = [f for f in metrics["per_frame"] if f["mpjpe_mm"] is not None]
    ax = axes[0, 0]
    ax.plot([f["mpjpe_mm"] for f in frames], ".-", ms=3)
    ax.set_xlabel("frame (with a matched person)")
    ax.set_ylabel("MPJPE (mm)")
    ax.set_title("error per frame", fontsize=9)
    ax = axes[0, 1]
    ax.scatter([100 * (f["true_occluded_fraction"] or 0) for f in frames],
               [f["mpjpe_mm"] for f in frames], s=8)
    ax.set_xlabel("true occluded share of the people (%)")
    ax.set_ylabel("MPJPE (mm)")
    ax.set_title("error against occlusion", fontsize=9)
    ax = axes[1, 0]
    names = list(metrics["per_joint_mm"])
    x = np.arange(len(names))
    for offset, key, colour in ((-0.2, "visible", "tab:green"), (0.2, "occluded", "tab:red")):
        values = [metrics["per_joint_mm"][n][key] or 0.0 for n in names]
        ax.bar(x + offset, values, 0.4, label=f"truly {key}", color=colour)
    ax.set_xticks(x, names, rotation=90, fontsize=6)
    ax.set_ylabel("error (mm)")
    ax.legend(fontsize=7)
    ax.set_title("per-joint error", fontsize=9)
    ax = axes[1, 1]
    latencies = metrics.get("latencies_ms") or []
    if latencies:
        ax.hist(latencies, bins=30)
        ax.set_xlabel("latency (ms)")
        ax.set_title("latency, image stamp to reception", fontsize=9)
    else:
        ax.hist(metrics.get("processing_list_ms") or [0.0], bins=30)
        ax.set_xlabel("pipeline time per frame (ms)")
        ax.set_title("processing time (offline)", fontsize=9)
    for a in axes.flat:
        a.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
