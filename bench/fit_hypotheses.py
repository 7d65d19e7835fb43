"""How many turned starts a cold fit needs, and whether keypoints should help choose.

    python bench/fit_hypotheses.py [--model runs/x/model.pt] [--count 64] [--device cuda]
                                   [--store]

A regressed root orientation is often tens of degrees off (bench/results/fit_settings.md:
36 degrees median for the shipped model), and a local fit does not leave that basin. Here
each cold fit starts from K copies of the regressed body turned evenly about its vertical
axis (FitConfig.hypotheses) and keeps the one with the lowest final loss, optionally plus
the 2D keypoint term (FitConfig.hypothesis_keypoint_weight). Fits use the model file's
stored objective and schedule, on occluded single people of the validation seeds (from
2,000,000,000, as bench/fit_settings.py), ranked by mean MPJPE (pelvis-aligned). The
"closest start" column picks, per person, the turned fit nearest the truth: what a perfect
choice would give. ``--store`` writes the best K and weight into the model file; the
choice's turn weight (bench/hypothesis_choice.py) is left out here and kept in the file.

Writes bench/results/fit_hypotheses.md, .json and .png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_settings import (  # noqa: E402
    VALIDATION_SEED,
    errors_mm,
    root_error_deg,
    validation_people,
)
from record import RESULTS, environment  # noqa: E402

from nbf_ros.eval.metrics import mpjpe  # noqa: E402
from nbf_ros.fitting.config import FitConfig  # noqa: E402
from nbf_ros.fitting.fitter import Fitter, turned_starts  # noqa: E402
from nbf_ros.nbv.renderer import RenderConfig  # noqa: E402
from nbf_ros.vision.weights import (  # noqa: E402
    CHOICE_KEYS,
    DEFAULT_MODEL,
    fit_settings,
    load_model,
    resolve_model_path,
    update_model_meta,
)


def main(argv: list[str] | None = None) -> int:
    """Fit the validation people from 1 to K turned starts; report, and store the best."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model file or models/ name")
    parser.add_argument("--count", type=int, default=64, help="validation people")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--hypotheses", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0],
                        help="keypoint weights in the choice (hypothesis_keypoint_weight)")
    parser.add_argument("--store", action="store_true",
                        help="write the best hypotheses and weight into the model file")
    args = parser.parse_args(argv)
    model = resolve_model_path(args.model)
    device = torch.device(args.device)
    net, volume, meta = load_model(model, device)
    batch, read = validation_people(net, volume, args.count, device)
    truth, true_root = batch["joints"][:, 0], batch["rotations"][:, 0, 0]
    # The choice's turn weight and blend are bench/hypothesis_choice.py's to set, after
    # this: here the starts compete on score alone, or every K would look like one start.
    stored = {k: v for k, v in fit_settings(meta).items()
              if k != "hypotheses" and k not in CHOICE_KEYS}
    base = dataclasses.replace(FitConfig(render=RenderConfig(opacity=meta["render_opacity"])),
                               **stored)
    reg_err = mpjpe(read.regression_joints, truth)
    rows = [dict(name="regression head (no fit)", **errors_mm(read.regression_joints, truth),
                 root_deg=root_error_deg(read.regression.rotations[:, 0], true_root))]
    grid = [(k, w) for k in args.hypotheses for w in (args.weights if k > 1 else [0.0])]
    for k, w in tqdm(grid, desc="settings"):
        cfg = dataclasses.replace(base, hypotheses=k, hypothesis_keypoint_weight=w)
        tic = time.perf_counter()
        res = Fitter(volume, cfg).fit(read.features, read.camera, read.regression,
                                      read.keypoints, read.keypoint_confidence)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - tic
        row = dict(name=f"{k} start{'s' if k > 1 else ''}" + (
            f", keypoint weight {w:g} in the choice" if k > 1 else ""),
            hypotheses=k, weight=w, **errors_mm(res.joints, truth),
            root_deg=root_error_deg(res.state.rotations[:, 0], true_root),
            beats_regression=float((mpjpe(res.joints, truth) < reg_err).float().mean()),
            seconds=seconds)
        if k > 1 and w == args.weights[0]:
            row["closest_mean_mm"] = _closest_start(volume, cfg, read, truth)
        rows.append(row)
    fits = [r for r in rows if "hypotheses" in r]
    best = min(fits, key=lambda r: r["mean_mm"])
    entry = {"model": model.name, "environment": environment(device), "people": args.count,
             "seed": VALIDATION_SEED, "objective": stored, "rows": rows,
             "best": {"hypotheses": best["hypotheses"], "weight": best["weight"]}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fit_hypotheses.json").write_text(json.dumps(entry, indent=2) + "\n")
    (RESULTS / "fit_hypotheses.md").write_text(_markdown(entry))
    _plot(entry, RESULTS / "fit_hypotheses.png")
    print(_markdown(entry))
    if args.store:
        update_model_meta(model, fit=dict(fit_settings(meta), hypotheses=best["hypotheses"],
                                          hypothesis_keypoint_weight=best["weight"]))
        print(f"stored hypotheses {best['hypotheses']}, keypoint weight {best['weight']:g} "
              f"in {model}")
    return 0


def _closest_start(volume, cfg: FitConfig, read, truth: torch.Tensor) -> float:  # noqa: ANN001
    """Mean MPJPE (mm) when each person keeps the turned fit nearest the truth."""
    k, n = cfg.hypotheses, truth.shape[0]
    starts = turned_starts(read.regression, k)
    pick = torch.arange(n, device=truth.device).repeat_interleave(k)
    res = Fitter(volume, dataclasses.replace(cfg, hypotheses=1)).fit(
        read.features[pick], read.camera.index(pick), starts, read.keypoints[pick],
        read.keypoint_confidence[pick])
    err = mpjpe(res.joints, truth[pick]).view(n, k)
    return float(err.min(1).values.mean()) * 1e3


def _markdown(entry: dict) -> str:
    """The table of settings."""
    env = entry["environment"]
    lines = [f"# Turned starts of cold fits, {entry['model']} ({env['date']}, {env['device']})",
             "", f"`python bench/fit_hypotheses.py`: {entry['people']} occluded single people "
             f"of the validation seeds (from {entry['seed']}), the model's stored objective "
             f"and schedule ({entry['objective']}), each fit from K copies of the regressed "
             "body turned evenly about its vertical axis, the lowest final loss kept (plus "
             "the weighted 2D keypoint term where given). MPJPE pelvis-aligned, mm; root: "
             "median error of the root orientation; \"closest start\": the mean when each "
             "person keeps the turned fit nearest the truth (a perfect choice); time: the "
             "whole batch's fit.", "",
             "| setting | median MPJPE | mean MPJPE | median PA-MPJPE | root, deg | "
             "beats regression | closest start, mean | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    best = entry["best"]
    for r in entry["rows"]:
        mark = (" (best)" if r.get("hypotheses") == best["hypotheses"]
                and r.get("weight") == best["weight"] else "")
        beats = f"{100 * r['beats_regression']:.0f}%" if "beats_regression" in r else ""
        closest = f"{r['closest_mean_mm']:.1f}" if "closest_mean_mm" in r else ""
        secs = f"{r['seconds']:.1f}" if "seconds" in r else ""
        lines.append(f"| {r['name']}{mark} | {r['median_mm']:.1f} | {r['mean_mm']:.1f} | "
                     f"{r['pa_median_mm']:.1f} | {r['root_deg']:.1f} | {beats} | {closest} | "
                     f"{secs} |")
    return "\n".join(lines) + "\n"


def _plot(entry: dict, png: Path) -> None:
    """Mean and median MPJPE per setting, the regression head as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = entry["rows"]
    fits = rows[1:]
    x = np.arange(len(fits))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(x - 0.2, [r["mean_mm"] for r in fits], 0.4, label="mean")
    ax.bar(x + 0.2, [r["median_mm"] for r in fits], 0.4, label="median")
    ax.axhline(rows[0]["mean_mm"], color="k", ls="--", lw=1, label="regression head, mean")
    ax.axhline(rows[0]["median_mm"], color="grey", ls=":", lw=1,
               label="regression head, median")
    ax.set_xticks(x, [f"K={r['hypotheses']}" + (f"\nkp {r['weight']:g}" if r["hypotheses"] > 1
                                                else "") for r in fits], fontsize=8)
    ax.set_ylabel("MPJPE (mm)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    env = entry["environment"]
    ax.set_title(f"cold fits from K turned starts, {entry['people']} occluded people, "
                 f"{env['date']}, {env['device']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
