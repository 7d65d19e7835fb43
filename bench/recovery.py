"""Accuracy of the fitting core on synthetic features (issue 3's recovery figures).

    python bench/recovery.py [--device cuda] [--batch 32]

Known random poses of the shipped Anny volume are rendered to 80 x 80 feature crops with
noise (relative size 0.5) and fitted back from starts 20 degrees off per joint and
10 cm / 10 degrees off at the root: without occluder, and behind a square occluder over
30% of the body carrying clutter features, with and without the occlusion model, for
both feature matches. Warm-start runs follow smooth motions frame by frame, with 10, 20
and 40 steps per frame at most.

Writes bench/results/recovery.json (one entry per device type), recovery.md, recovery.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import RESULTS, environment, save  # noqa: E402

from nbf_ros.eval.recovery import recovery_run, tracking_run  # noqa: E402
from nbf_ros.fitting.config import FitConfig  # noqa: E402
from nbf_ros.nbv.volume import NeuralBodyVolume  # noqa: E402
from nbf_ros.paths import find_model_file  # noqa: E402

CONDITIONS = (  # name, occluder fraction, FitConfig overrides
    ("clean, blend, robust", 0.0, {}),
    ("occluded, blend, robust", 0.3, {}),
    ("occluded, blend, plain", 0.3, {"robust": False}),
    ("clean, average, robust", 0.0, {"match": "average"}),
    ("occluded, average, robust", 0.3, {"match": "average"}),
)


def summary(errors: torch.Tensor) -> dict[str, float]:
    """Median, mean and 90th percentile of per-body errors, in mm."""
    mm = errors.numpy() * 1000
    return {"median": float(np.median(mm)), "mean": float(mm.mean()),
            "p90": float(np.percentile(mm, 90))}


def markdown(runs: dict) -> str:
    """The tables of all recorded devices."""
    lines = ["# Recovery of known poses from synthetic features", "",
             "Written by `bench/recovery.py`. MPJPE is root-aligned over the 24 joints; "
             "errors in mm. Starts: 20 degrees per joint, 10 degrees and 10 cm at the root.",
             ""]
    for run in runs.values():
        lines += [f"## {run['device']} ({run['device_type']}), {run['date']}, "
                  f"torch {run['torch']}", "",
                  f"{run['batch']} bodies per condition, 80 x 80 crops, feature noise "
                  f"{run['noise']}, `FitConfig()` (120 steps) unless noted. Each condition "
                  "is one batched fit by a new Fitter (on CUDA its time includes the graph "
                  "captures). Medians move by a few mm between GPU runs: atomic adds make "
                  "CUDA gradients non-deterministic and the fits amplify it.", "",
                  "| condition | start MPJPE | MPJPE median | mean | p90 | PA-MPJPE median "
                  "| hidden joints reported hidden | s per batch fit |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for c in run["conditions"]:
            hid = (f"{100 * c['hidden_reported']:.0f}% of {c['hidden_joints']}"
                   if c["hidden_joints"] else "-")
            lines.append(f"| {c['name']} | {c['start']['median']:.0f} | "
                         f"{c['mpjpe']['median']:.1f} | {c['mpjpe']['mean']:.1f} | "
                         f"{c['mpjpe']['p90']:.1f} | {c['pa_mpjpe']['median']:.1f} | {hid} | "
                         f"{c['seconds']:.1f} |")
        lines += ["", "Warm start along smooth motions (`FitConfig.tracking()` with the step cap "
                  "below, each frame from the last result extrapolated at constant velocity):",
                  "", "| steps cap | bodies x frames | MPJPE median | p90 | mean steps "
                  "| stopped before the cap |", "| --- | --- | --- | --- | --- | --- |"]
        for t in run["tracking"]:
            lines.append(f"| {t['cap']} | {t['bodies']} x {t['frames']} | "
                         f"{t['mpjpe']['median']:.1f} | {t['mpjpe']['p90']:.1f} | "
                         f"{t['iterations_mean']:.1f} | {100 * t['converged']:.0f}% |")
        lines.append("")
    lines.append("![per-body errors and tracking](recovery.png)")
    return "\n".join(lines) + "\n"


def plot(entry: dict, errors: dict[str, np.ndarray], tracks: dict[int, np.ndarray]) -> None:
    """recovery.png: per-body error per condition, and tracking error per frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = list(errors)
    left.boxplot([errors[n] for n in names], orientation="horizontal", showfliers=True)
    left.set_yticks(range(1, len(names) + 1), names, fontsize=8)
    left.set_xscale("log")
    left.axvline(20, color="g", ls=":", label="20 mm")
    left.axvline(40, color="orange", ls=":", label="40 mm")
    left.set_xlabel("MPJPE per body, mm")
    left.legend(fontsize=8)
    for cap, track in tracks.items():
        right.plot(np.arange(track.shape[0]), np.median(track, 1), lw=2,
                   label=f"cap {cap} steps")
    right.set_xlabel("frame")
    right.set_ylabel("median MPJPE, mm")
    right.set_title("warm start along smooth motions")
    right.legend(fontsize=8)
    fig.suptitle(f"Recovery, {entry['device']}, {entry['date']}")
    fig.tight_layout()
    fig.savefig(RESULTS / "recovery.png", dpi=120)


def main() -> None:
    """Run every condition and record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=32, help="bodies per condition")
    parser.add_argument("--track-bodies", type=int, default=8)
    parser.add_argument("--track-caps", type=int, nargs="+", default=[10, 20, 40],
                        help="step caps per frame of the warm-start runs")
    parser.add_argument("--seed", type=int, default=100)
    args = parser.parse_args()
    device = torch.device(args.device)
    volume = NeuralBodyVolume.load(find_model_file("nbv_anny.npz")).to(device)
    conditions, errors = [], {}
    for name, occluder, overrides in tqdm(CONDITIONS, desc="conditions"):
        run = recovery_run(volume, FitConfig(**overrides), args.batch, args.seed,
                           occluder=occluder)
        hidden = run.visibility[run.under_occluder]
        conditions.append({
            "name": name, "occluder": occluder, "config": overrides,
            "start": summary(run.start_error), "mpjpe": summary(run.error),
            "pa_mpjpe": summary(run.pa_error), "seconds": run.seconds,
            "hidden_joints": int(hidden.numel()),
            "hidden_reported": float((hidden < 0.5).float().mean()) if hidden.numel() else None,
            "visible_reported": float(
                (run.visibility[~run.under_occluder] >= 0.5).float().mean()),
        })
        errors[name] = run.error.numpy() * 1000
        tqdm.write(f"{name}: median {conditions[-1]['mpjpe']['median']:.1f} mm")
    tracking, tracks = [], {}
    for cap in tqdm(args.track_caps, desc="tracking"):
        cfg = FitConfig.tracking(iterations=cap)
        track = tracking_run(volume, cfg, args.track_bodies, args.seed + 1, keyframes=3,
                             frames_between=10)
        tracks[cap] = track.error.numpy() * 1000
        tracking.append({
            "cap": cap, "bodies": args.track_bodies, "frames": int(track.error.shape[0]),
            "mpjpe": summary(track.error.flatten()),
            "iterations_mean": float(track.iterations.float().mean()),
            "converged": float(track.converged.float().mean()),
            "per_frame_median_mm": (track.error.median(1).values * 1000).tolist(),
        })
    entry = {
        **environment(device), "batch": args.batch, "noise": 0.5, "resolution": 80,
        "kernels": volume.num_kernels, "seed": args.seed, "conditions": conditions,
        "tracking": tracking,
    }
    save("recovery", entry, markdown)
    plot(entry, errors, tracks)
    print((RESULTS / "recovery.md").read_text())


if __name__ == "__main__":
    main()
