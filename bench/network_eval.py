"""Accuracy of a trained feature model on held-out synthetic people (its model card).

    python bench/network_eval.py [--model models/nbf_anny_net.pt] [--count 100]

Single-person test scenes from seeds 1,000,000,000 onwards (training uses seeds from 0), in
two conditions: clean (no occluder) and occluded (one or two textured occluders over the
subject in every image). Reports kernel correspondence accuracy, 2D keypoint PCK@0.1 and
3D MPJPE / PA-MPJPE of the regression head alone, of NBV fitting started from it, and of
fitting without the occlusion model (3DNBF's default settings: 120 steps).

Writes, next to the model file, <model>.eval.json and <model>.card.md (the model card:
training facts from the file's metadata plus these results), and
bench/results/network_eval.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import RESULTS, environment  # noqa: E402

from nbf_ros.eval.network_eval import TEST_SEED, ConditionResult, evaluate_condition  # noqa: E402
from nbf_ros.fitting.config import FitConfig  # noqa: E402
from nbf_ros.nbv.renderer import RenderConfig  # noqa: E402
from nbf_ros.synth.mesh import BodyMesh  # noqa: E402
from nbf_ros.synth.scenes import SceneConfig  # noqa: E402
from nbf_ros.vision.weights import (  # noqa: E402
    DEFAULT_MODEL,
    fit_settings,
    load_model,
    load_turn_head,
    resolve_model_path,
    turn_head_meta,
)


def _summary(res: ConditionResult) -> dict:
    """Medians and means in millimetres, rates as fractions."""
    mm = lambda a: {"median": float(np.median(a) * 1e3), "mean": float(np.mean(a) * 1e3)}  # noqa: E731
    return {
        "kernel_accuracy": res.kernel_accuracy, "kernel_accuracy_10cm": res.kernel_accuracy_10cm,
        "front_back_accuracy": res.front_back_accuracy,
        "pck_visible": res.pck_visible, "pck_occluded": res.pck_occluded,
        "regression_mpjpe_mm": mm(res.regression_mpjpe), "regression_pa_mm": mm(res.regression_pa),
        "fit_mpjpe_mm": mm(res.fit_mpjpe), "fit_pa_mm": mm(res.fit_pa),
        "plain_fit_mpjpe_mm": mm(res.plain_fit_mpjpe),
        "keypoint_fit_mpjpe_mm": mm(res.keypoint_fit_mpjpe),
        "occluded_share_mean": float(np.mean(res.occluded_share)),
        "fit_seconds": res.seconds, "people": len(res.fit_mpjpe),
    }


def _fit_line(fit: dict | None) -> str:
    """The fit settings the card's figures used, in words."""
    if not fit:
        return "120 steps (3DNBF's count)"
    return (f"{fit['iterations']} steps (3DNBF's count), match {fit['match']!r} at temperature "
            f"{fit['temperature']}, occlusion prior {fit['occlusion_prior']}, keypoint weight "
            f"{fit['keypoint_weight']}, anchor weight {fit['anchor_weight']}, knee and elbow "
            f"weight {fit['hinge_weight']}; lr {fit['lr']}, {fit['root_iterations']} root-only "
            f"steps, {100 * fit['coarse_fraction']:.0f}% of the steps at half resolution; "
            f"{fit.get('hypotheses', 1)} start(s) turned evenly about the body's vertical "
            f"axis, keypoint weight {fit.get('hypothesis_keypoint_weight', 0.0)} and turn "
            f"weight {fit.get('hypothesis_turn_weight', 0.0)} in the choice among them"
            + (f", the turn head's prior at weight {prior:g} in that choice"
               if (prior := fit.get("hypothesis_turn_prior_weight", 0.0)) else "")
            + (f", joints blended over them at temperature {blend:g}"
               if (blend := fit.get("hypothesis_blend_temperature", 0.0)) else ""))


def _card(model: Path, meta: dict, results: dict, env: dict, note: str | None,
          fit: dict | None = None) -> str:
    """The model card in Markdown."""
    lines = [
        f"# Model card: {model.name}", "",
        "Feature network of nbf_ros (backbone + decoder to stride 4, heads for 64-D Neural Body",
        "Volume features, 24 joint heatmaps, person centres and boxes, pose regression) and",
        "the kernel and clutter features it was trained with, in one file.", "",
        "## Training", "",
        *_training_lines(meta),
        "- reproduce: `nbf-ros train --config config/train.yaml --out runs/default "
        "--install models/nbf_anny_net.pt`"
        + ("; then each continuation: `nbf-ros train --init runs/default/model.pt --out "
           "runs/next` (on the GPU: `bash bench/gpu_train.sh MINUTES`)"
           if meta.get("origin") else ""),
        *([f"- history: {note}"] if note else []),
        _silhouette_line(meta.get("silhouette")),
        *_turn_head_lines(turn_head_meta(model)), "",
        f"## Held-out synthetic test ({env['date']}, {env['device']}, torch {env['torch']})",
        "",
        f"Single people, scene seeds from {TEST_SEED}; fitting (the shipped FitConfig): "
        f"{_fit_line(fit)}, started from the regression head. \"Keypoints only\" is the same "
        "fit with the feature term off: what the NBV features add. Front/back: share of body "
        "cells whose feature is nearer the true kernel's than its depth twin's (the body "
        "turned to face the other way, left and right swapped; 50% is chance). MPJPE is "
        "pelvis-aligned.",
        "",
        "| condition | people | hidden share | kernel acc. | kernel acc. (10 cm) | front/back | "
        "PCK@0.1 visible | PCK@0.1 occluded | regression MPJPE | fit MPJPE | fit, no occlusion "
        "model | fit, keypoints only | regression PA | fit PA |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['people']} | {_pct(r['occluded_share_mean'])} | "
            f"{_pct(r['kernel_accuracy'])} | {_pct(r['kernel_accuracy_10cm'])} | "
            f"{_pct(r.get('front_back_accuracy', float('nan')))} | {_pct(r['pck_visible'])} | "
            f"{_pct(r['pck_occluded'])} | "
            f"{r['regression_mpjpe_mm']['median']:.0f} mm | {r['fit_mpjpe_mm']['median']:.0f} mm"
            f" | {r['plain_fit_mpjpe_mm']['median']:.0f} mm | "
            f"{_mm(r, 'keypoint_fit_mpjpe_mm')} | "
            f"{r['regression_pa_mm']['median']:.0f} mm | {r['fit_pa_mm']['median']:.0f} mm |")
    lines += ["", "Medians over people; means are in the .eval.json file.", ""]
    for name, r in results.items():
        reg, fit = r["regression_mpjpe_mm"]["median"], r["fit_mpjpe_mm"]["median"]
        plain = r["plain_fit_mpjpe_mm"]["median"]
        line = (f"- {name}: fitting {'lowers' if fit < reg else 'raises'} the regression "
                f"head's MPJPE ({reg:.0f} -> {fit:.0f} mm); the occlusion model "
                f"{'helps' if fit < plain else 'does not help'} ({plain:.0f} mm without it)")
        if "keypoint_fit_mpjpe_mm" in r:
            kp = r["keypoint_fit_mpjpe_mm"]["median"]
            line += (f"; the NBV features {'help' if fit < kp else 'do not help'} "
                     f"({kp:.0f} mm with keypoints and priors only)")
        lines.append(line + ".")
    lines += [
        "",
        "## Limits", "",
        "- Trained on synthetic renders only: expect a domain gap on real camera images; "
        "train on your own data (`nbf-ros train`, loaders for 3DPW and EFT annotations).",
        "- Person crops are small (128 px, features 32 x 32), chosen so that training fits "
        "a 2-core CPU; a GPU run with larger crops and more steps will be more accurate.",
        "- Where the findings above say fitting raises the error, the features are not yet "
        "distinctive enough for analysis-by-synthesis to refine the regression: use the "
        "regression (or a better-trained model) rather than trusting the fit.",
    ]
    return "\n".join(lines) + "\n"


def _turn_head_lines(head: dict | None) -> list[str]:
    """The card's lines on the turn head the file holds (none without one)."""
    if head is None:
        return []
    lines = [f"- turn head (`nbf_ros/vision/turn_head.py`, network frozen): `nbf-ros turn-head "
             f"--scenes {head.get('scenes')} --views {head.get('views')}` on "
             f"{head.get('device')}, {head.get('minutes')} min, {head.get('date')}; "
             f"{head.get('samples')} crops, half of them mirror images (seeds from "
             f"{head.get('seed')}); on the held-out tenth: {_reading(head.get('report', {}))}"]
    tuning = head.get("tuning")
    if tuning is not None:
        lines.append(
            f"- turn head tuned with its own copy of the network (the fitting network "
            f"unchanged): `nbf-ros turn-head --scenes 0 --tune-scenes {tuning.get('scenes')} "
            f"--tune-lr {tuning.get('lr')}` on {tuning.get('device')}, {tuning.get('minutes')} "
            f"min, {tuning.get('date')} (seeds from {tuning.get('seed')}); on its held-out "
            f"tenth, before: {_reading(tuning.get('before', {}))}; after: "
            f"{_reading(tuning.get('after', {}))}")
    return lines


def _reading(report: dict) -> str:
    """How a turn head read held-out crops, in words."""
    error, flipped = report.get("median_error_deg", {}), report.get("flipped_share", {})
    return (f"median azimuth error {error.get('clean', float('nan')):.1f} deg clean, "
            f"{error.get('occluded', float('nan')):.1f} deg occluded; read more than 90 deg "
            f"off {_pct(flipped.get('clean', float('nan')))} / "
            f"{_pct(flipped.get('occluded', float('nan')))}")


def _training_lines(meta: dict) -> list[str]:
    """The card's data and training-run lines, one per run from the first model file on."""
    runs = _runs(meta)
    first_seed = runs[0].get("seed", 0)
    end = meta.get("next_scene", first_seed + meta.get("steps", 0) * meta.get("batch", 0))
    lines = [
        f"- data: synthetic scenes made on the fly (`nbf_ros.synth.scenes`), seeds "
        f"{first_seed} to {end - 1}: Anny bodies with random shapes and poses, clothing, skin "
        "tones, procedural backgrounds, textured occluders, up to two people, random "
        "intrinsics; no real images, no scene seen twice"]
    for i, run in enumerate(runs):
        how = "trained" if i == 0 else f"continued from {runs[i - 1].get('file', 'a model')}"
        lines.append(
            f"- {how}: {run.get('steps', 0):,} steps of {run.get('batch')} scenes at "
            f"{run.get('image_size')} pixels on {run.get('device')} with torch "
            f"{run.get('torch')} in {run.get('train_seconds', 0) / 60:.0f} min, "
            f"{run.get('date')}")
    if len(runs) > 1:
        lines.append(f"- in all: {sum(r.get('steps', 0) for r in runs):,} steps, "
                     f"{sum(r.get('train_seconds', 0) for r in runs) / 60:.0f} min")
    return lines


def _readout_table(model: Path, meta: dict, raw: dict[str, ConditionResult]) -> str:
    """The network's readout figures per condition, in Markdown."""
    total = sum(r.get("steps", 0) for r in _runs(meta))
    lines = [f"{model} ({total:,} training steps; readout only, no fitting)", "",
             "| condition | people | kernel acc. | kernel acc. (10 cm) | front/back | "
             "PCK@0.1 visible | PCK@0.1 occluded | regression MPJPE median (mean) | "
             "regression PA |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in raw.items():
        lines.append(
            f"| {name} | {len(r.regression_mpjpe)} | {_pct(r.kernel_accuracy)} | "
            f"{_pct(r.kernel_accuracy_10cm)} | {_pct(r.front_back_accuracy)} | "
            f"{_pct(r.pck_visible)} | {_pct(r.pck_occluded)} | "
            f"{np.median(r.regression_mpjpe) * 1e3:.1f} ({np.mean(r.regression_mpjpe) * 1e3:.1f})"
            f" mm | {np.median(r.regression_pa) * 1e3:.1f} mm |")
    return "\n".join(lines)


def _runs(meta: dict) -> list[dict]:
    """The metadata of each training run behind a model file, earliest first."""
    runs = [meta]
    while runs[0].get("origin"):  # each run records the model file it started from
        runs.insert(0, runs[0]["origin"])
    return runs


def _pct(value: float) -> str:
    """A share as a percentage, or n/a for NaN (no occluded joint to score)."""
    return "n/a" if value != value else f"{100 * value:.1f}%"


def _mm(result: dict, key: str) -> str:
    """A median in mm, or n/a for results written before the column existed."""
    return f"{result[key]['median']:.0f} mm" if key in result else "n/a"


def _silhouette_line(record: dict | None) -> str:
    """The kernel geometry calibration in one line."""
    if not record:
        return "- kernel geometry: as shipped (not calibrated)"
    geo = record["geometry"]
    return (f"- kernel geometry (`nbf_ros/nbv/silhouette.py`): radii x{geo['sigma_scale']}, "
            f"inset {geo['inset']} radii, opacity {geo['opacity']}: rendered/mesh silhouette "
            f"area {record['area_ratio']}, IoU {record['iou']} (shipped geometry: "
            f"{record['shipped_area_ratio']}, IoU {record['shipped_iou']}; "
            f"{record['scenes']} scenes)")


def _plot(results: dict[str, ConditionResult], png: Path) -> None:
    """Per-person MPJPE against hidden share, regression head vs fitting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for res in results.values():
        axes[0].scatter(res.occluded_share, res.regression_mpjpe * 1e3, s=10, alpha=0.6,
                        label=f"{res.name}: regression")
        axes[0].scatter(res.occluded_share, res.fit_mpjpe * 1e3, s=10, alpha=0.6,
                        label=f"{res.name}: NBV fit")
    axes[0].set_xlabel("share of the body hidden by occluders")
    axes[0].set_ylabel("MPJPE (mm)")
    axes[0].legend(fontsize=7)
    axes[0].grid(alpha=0.3)
    names = list(results)
    x = np.arange(len(names))
    bars = (("regression", "regression_mpjpe"), ("fit, keypoints only", "keypoint_fit_mpjpe"),
            ("fit, no occlusion model", "plain_fit_mpjpe"), ("fit", "fit_mpjpe"))
    for i, (label, key) in enumerate(bars):
        axes[1].bar(x + (i - 1.5) * 0.2, [np.median(getattr(results[n], key)) * 1e3
                                          for n in names], 0.2, label=label)
    axes[1].set_xticks(x, names)
    axes[1].set_ylabel("median MPJPE (mm)")
    axes[1].legend(fontsize=8)
    axes[1].grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Evaluate and write the card, the JSON and the plot."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model file or models/ name")
    parser.add_argument("--count", type=int, default=100, help="people per condition")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--note", help="a line on the training history for the card")
    parser.add_argument("--card-only", action="store_true",
                        help="rewrite the card from the existing .eval.json, evaluating nothing")
    parser.add_argument("--no-fit", action="store_true",
                        help="the network's readout only (kernel accuracy, PCK, regression): "
                             "print a table, write nothing (seconds on a CPU, where the fits "
                             "take most of an hour)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    model = resolve_model_path(args.model)
    stem = model.with_suffix("")
    if args.card_only:
        saved = json.loads(Path(f"{stem}.eval.json").read_text())
        note = args.note or saved.get("note")
        Path(f"{stem}.card.md").write_text(_card(model, saved["meta"], saved["results"],
                                                 saved["environment"], note, saved.get("fit")))
        return 0
    net, volume, meta = load_model(model, device)
    mesh = BodyMesh.default()
    size = meta.get("image_size", [128, 128])
    base = SceneConfig(height=size[0], width=size[1])
    conditions = {
        "clean": SceneConfig(**{**base.__dict__, "occluder_probability": 0.0}),
        "occluded": SceneConfig(**{**base.__dict__, "occluder_probability": 1.0}),
    }
    # The model's own objective settings (bench/fit_settings.py), as the pipeline fits.
    fit = FitConfig(render=RenderConfig(opacity=meta["render_opacity"]), **fit_settings(meta))
    turn_head = load_turn_head(model, device)
    raw = {name: evaluate_condition(net, volume, mesh, name, cfg, args.count, fit=fit,
                                    fitting=not args.no_fit, turn_head=turn_head)
           for name, cfg in conditions.items()}
    if args.no_fit:
        print(_readout_table(model, meta, raw))
        return 0
    results = {name: _summary(r) for name, r in raw.items()}
    env = environment(device)
    settings = {k: v for k, v in dataclasses.asdict(fit).items() if k != "render"}
    Path(f"{stem}.eval.json").write_text(json.dumps(
        {"model": model.name, "environment": env, "meta": meta, "fit": settings,
         "results": results, "note": args.note}, indent=2) + "\n")
    Path(f"{stem}.card.md").write_text(_card(model, meta, results, env, args.note, settings))
    RESULTS.mkdir(parents=True, exist_ok=True)
    _plot(raw, RESULTS / "network_eval.png")
    print(Path(f"{stem}.card.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
