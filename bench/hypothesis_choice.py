"""Whether the choice among a cold fit's turned starts holds behind the worst square.

    python bench/hypothesis_choice.py [--people 12] [--stride 40] [--device cuda] [--store]

A cold fit keeps the turned start with the lowest score (FitConfig.hypotheses,
nbf_ros.fitting.fitter.choice_score): the fit's loss, plus the 2D keypoint term
(hypothesis_keypoint_weight), plus the squared angle to the regressed turn
(hypothesis_turn_weight). The occlusion benchmark's adversary looks for the square that
tips that choice. Here validation people (seeds from fit_settings.VALIDATION_SEED + 50,000,
224 x 224, as the benchmark's test people) are fitted clean and behind a 40 and an 80 px
square at every position of a --stride grid, every start of every fit kept; each choice rule
of a grid of weights then picks among the same fits, and the adversary takes, per person,
the position where that rule errs most on the joints the square leaves visible (the
benchmark's protocol, nbf_ros/eval/occlusion.py). Columns: clean, the mean over all square
positions (an unlucky square, not the worst), the worst 40 px and 80 px square. "Closest
start" picks the fit nearest the truth: what a perfect choice would give.

The rule with the lowest mean over the four columns is marked; ``--store`` writes its two
weights into the model file. Writes bench/results/hypothesis_choice.md, .json and .png.
``--test`` fits the occlusion benchmark's held-out test people instead, to check a stored
rule on people it was not chosen on (hypothesis_choice_test.*; nothing is stored).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_settings import VALIDATION_SEED  # noqa: E402
from occlusion_benchmark import person_targets, single_people, square_seed  # noqa: E402
from record import RESULTS, environment  # noqa: E402

from nbf_ros.eval.occlusion import (  # noqa: E402
    common_joints,
    covered,
    grid_corners,
    pose_errors,
    textured_square,
    with_square,
)
from nbf_ros.fitting.fitter import choice_score  # noqa: E402
from nbf_ros.nbv.camera import project  # noqa: E402
from nbf_ros.node_settings import build_pipeline, default_settings  # noqa: E402
from nbf_ros.vision.weights import (  # noqa: E402
    fit_settings,
    resolve_model_path,
    update_model_meta,
)

VALIDATION_FIRST_SEED = VALIDATION_SEED + 50_000
COLUMNS = ("clean", "all squares", "AdvOcc-40", "AdvOcc-80")


@dataclasses.dataclass
class Image:
    """Every start's fit of one person in one image, and what a choice needs of them."""

    person: int
    side: int  # 0: clean
    loss: torch.Tensor  # [H] the fits' own losses
    projected: torch.Tensor  # [H, J, 2] crop pixels
    keypoints: tuple[torch.Tensor, torch.Tensor]  # [H, J, 2], [H, J]
    given_root: torch.Tensor  # [H, 3, 3]
    root: torch.Tensor  # [H, 3, 3]
    mpjpe: np.ndarray  # [H] mm, common joints
    selection: np.ndarray  # [H] mm on the joints the square leaves visible
    regression: tuple[float, float]  # the regression head's (MPJPE, selection error)


def fit_images(pipeline, first_seed: int, people: int, stride: int,  # noqa: ANN001
               batch: int) -> list[Image]:
    """Every start's fit of each person, clean and behind every square."""
    cfg = pipeline.fit_config
    hyp = cfg.hypotheses
    images = []
    for i, scene in enumerate(tqdm(single_people(first_seed, people), desc="people")):
        person = scene.people[0]
        height, width = scene.image.shape[:2]
        truth, keypoints = person_targets(person)
        jobs: list[tuple[int, tuple[int, int] | None]] = [(0, None)]
        for side in (40, 80):
            jobs += [(side, c) for c in grid_corners(person.box, side, stride, width, height)]
        squares = {side: textured_square(square_seed(i, side), side) for side in (40, 80)}
        for start in tqdm(range(0, len(jobs), batch), desc="squares", leave=False):
            chunk = jobs[start:start + batch]
            shown = [scene.image if c is None else with_square(scene.image, squares[s], c)
                     for s, c in chunk]
            with torch.no_grad():
                read = pipeline.readout(shown, scene.K, person.box)
            res = pipeline.fitter.fit(read.features, read.camera, read.regression,
                                      read.keypoints, read.keypoint_confidence, config=cfg,
                                      every_hypothesis=True)
            rows = torch.arange(len(chunk)).repeat_interleave(hyp)
            projected = project(res.joints, read.camera.K[rows]).cpu()
            joints = common_joints(res.joints.cpu().numpy()).reshape(len(chunk), hyp, 12, 3)
            regressed = common_joints(read.regression_joints.cpu().numpy())
            for k, (side, corner) in enumerate(chunk):
                free = (np.ones(12, bool) if corner is None
                        else ~covered(keypoints, corner, side))
                free = free if free.any() else np.ones(12, bool)
                part = slice(k * hyp, (k + 1) * hyp)
                images.append(Image(
                    person=i, side=side, loss=res.loss[part].cpu(),
                    projected=projected[part],
                    keypoints=(read.keypoints[rows[part]].cpu(),
                               read.keypoint_confidence[rows[part]].cpu()),
                    given_root=read.regression.rotations[rows[part], 0].cpu(),
                    root=res.state.rotations[part, 0].cpu(),
                    mpjpe=np.array([pose_errors(j, truth)[0] for j in joints[k]]),
                    selection=np.array([pose_errors(j, truth, free)[0] for j in joints[k]]),
                    regression=(pose_errors(regressed[k], truth)[0],
                                pose_errors(regressed[k], truth, free)[0])))
    return images


def evaluate(images: list[Image], pick) -> dict[str, float]:  # noqa: ANN001
    """Mean MPJPE (mm) per column when ``pick`` (Image -> start index, or None for the
    regression head) chooses; the adversary takes each person's worst square."""
    def chosen(img: Image) -> tuple[float, float]:
        k = pick(img)
        return img.regression if k is None else (img.mpjpe[k], img.selection[k])

    out = {}
    people = sorted({img.person for img in images})
    by_side = {side: [[img for img in images if img.person == p and img.side == side]
                      for p in people] for side in (0, 40, 80)}
    out["clean"] = float(np.mean([chosen(imgs[0])[0] for imgs in by_side[0]]))
    out["all squares"] = float(np.mean([chosen(img)[0] for img in images if img.side]))
    for side in (40, 80):
        worst = [max((chosen(img) for img in imgs), key=lambda e: e[1])[0]
                 for imgs in by_side[side]]
        out[f"AdvOcc-{side}"] = float(np.mean(worst))
    return out


def rule(cfg) -> Callable[[Image], int]:  # noqa: ANN001
    """The start a choice with ``cfg``'s weights keeps, per image."""
    def pick(img: Image) -> int:
        score = choice_score(cfg, img.loss, img.projected, img.keypoints, img.given_root,
                             img.root)
        return int(score.argmin())
    return pick


def main(argv: list[str] | None = None) -> int:
    """Fit, rank the choice rules, report, and store the best."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="nbf_anny_net.pt", help="model file or models/ name")
    parser.add_argument("--people", type=int, default=12, help="people fitted")
    parser.add_argument("--stride", type=int, default=40, help="square grid step (px)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--batch", type=int, default=8, help="images fitted together")
    parser.add_argument("--keypoint-weights", type=float, nargs="+", default=[0.0, 0.3, 1.0])
    parser.add_argument("--turn-weights", type=float, nargs="+",
                        default=[0.0, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32],
                        help="hypothesis_turn_weight values (per radian squared)")
    parser.add_argument("--store", action="store_true",
                        help="write the best rule's two weights into the model file")
    parser.add_argument("--test", action="store_true",
                        help="the occlusion benchmark's test people (a check; never stored)")
    args = parser.parse_args(argv)
    if args.people < 1 or args.stride < 1 or args.batch < 1:
        parser.error("--people, --stride and --batch must be positive")
    if args.test and args.store:
        parser.error("--test checks a rule on held-out people: choose with --store without it")
    first_seed = held_out_first_seed() if args.test else VALIDATION_FIRST_SEED
    settings = dict(default_settings(), model=args.model, device=args.device)
    pipeline, _ = build_pipeline(settings)
    cfg = dataclasses.replace(pipeline.fit_config, hypotheses=pipeline.cold_hypotheses)
    if cfg.hypotheses < 2:
        raise SystemExit(f"{args.model} stores one start: there is no choice to rank")
    pipeline.fit_config = cfg
    images = fit_images(pipeline, first_seed, args.people, args.stride, args.batch)
    rows = [dict(name="regression head (no fit)", **evaluate(images, lambda img: None)),
            dict(name="first start only (the regressed turn)", **evaluate(images, lambda i: 0)),
            dict(name="closest start (perfect choice)",
                 **evaluate(images, lambda img: int(np.argmin(img.mpjpe))))]
    shipped = (cfg.hypothesis_keypoint_weight, cfg.hypothesis_turn_weight)
    grid = []
    for wk in args.keypoint_weights:
        for wt in args.turn_weights:
            weights = dataclasses.replace(cfg, hypothesis_keypoint_weight=wk,
                                          hypothesis_turn_weight=wt)
            row = dict(name=f"keypoint weight {wk:g}, turn weight {wt:g}", keypoint_weight=wk,
                       turn_weight=wt, **evaluate(images, rule(weights)))
            row["score"] = float(np.mean([row[c] for c in COLUMNS]))
            grid.append(row)
    best = min(grid, key=lambda r: r["score"])
    current = dataclasses.replace(cfg, hypothesis_keypoint_weight=shipped[0],
                                  hypothesis_turn_weight=shipped[1])
    rows.insert(2, dict(name=f"the model file's rule (keypoint {shipped[0]:g}, turn "
                             f"{shipped[1]:g})", **evaluate(images, rule(current))))
    model = resolve_model_path(args.model)
    entry = {"model": model.name,
             "environment": environment(pipeline.device), "people": args.people,
             "stride": args.stride, "seed": first_seed, "test": args.test,
             "hypotheses": cfg.hypotheses,
             "images": len(images), "rows": rows, "grid": grid,
             "best": {"keypoint_weight": best["keypoint_weight"],
                      "turn_weight": best["turn_weight"]}}
    name = "hypothesis_choice_test" if args.test else "hypothesis_choice"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(entry, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(entry))
    plot(entry, RESULTS / f"{name}.png")
    print(markdown(entry))
    if args.store:  # the file's other fit settings as the pipeline read them
        update_model_meta(model, fit=dict(fit_settings(pipeline.meta),
                                          hypothesis_keypoint_weight=best["keypoint_weight"],
                                          hypothesis_turn_weight=best["turn_weight"]))
        print(f"stored keypoint weight {best['keypoint_weight']:g}, turn weight "
              f"{best['turn_weight']:g} in {model}")
    return 0


def held_out_first_seed() -> int:
    """Seed of the occlusion benchmark's first test person."""
    from nbf_ros.eval.network_eval import TEST_SEED

    return int(TEST_SEED) + 50_000


def markdown(entry: dict) -> str:
    """The report: reference rows, then the grid of rules."""
    env = entry["environment"]
    test = entry.get("test", False)
    who = "held-out test people of the occlusion benchmark" if test else "validation people"
    head = "| rule | " + " | ".join(COLUMNS) + " |"
    lines = [f"# Choosing among turned starts behind the worst square, {entry['model']} "
             f"({env['date']}, {env['device']})", "",
             f"`python bench/hypothesis_choice.py --people {entry['people']} --stride "
             f"{entry['stride']}{' --test' if test else ''}`: {entry['people']} {who} (seeds "
             f"from {entry['seed']}, 224 x 224), {entry['images']} images (clean, and a 40 and an "
             f"80 px textured square at every position of a {entry['stride']} px grid), "
             f"each fitted from {entry['hypotheses']} turned starts with the model file's "
             "objective; each rule then keeps one start per image. Mean MPJPE in mm on the "
             "12 common joints (mid-hip aligned); \"all squares\": over every square "
             "position; AdvOcc: each person's worst position for that rule, by the error "
             "on the joints the square leaves visible. The rule with the lowest mean over "
             "the four columns is in bold" + (
                 " (for reference: rules are chosen on validation people, never on these)."
                 if test else "."), "", head,
             "|---" * (len(COLUMNS) + 1) + "|"]
    for r in entry["rows"]:
        lines.append(f"| {r['name']} | " + " | ".join(f"{r[c]:.1f}" for c in COLUMNS) + " |")
    lines += ["", "Rules (choice_score weights; the turn weight is per radian squared):", "",
              head + " mean |", "|---" * (len(COLUMNS) + 2) + "|"]
    best = entry["best"]
    for r in entry["grid"]:
        mark = "**" if (r["keypoint_weight"], r["turn_weight"]) == (
            best["keypoint_weight"], best["turn_weight"]) else ""
        lines.append(f"| {mark}{r['name']}{mark} | "
                     + " | ".join(f"{r[c]:.1f}" for c in COLUMNS) + f" | {r['score']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(entry: dict, png: Path) -> None:
    """Bars per column for the reference rows and the best rule; AdvOcc-80 over the grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = min(entry["grid"], key=lambda r: r["score"])
    shown = [*entry["rows"], dict(best, name="best rule: " + best["name"])]
    fig, (bars, heat) = plt.subplots(1, 2, figsize=(12, 4.2),
                                     gridspec_kw={"width_ratios": [1.6, 1]})
    x = np.arange(len(COLUMNS))
    width = 0.8 / len(shown)
    for k, r in enumerate(shown):
        bars.bar(x + (k - (len(shown) - 1) / 2) * width, [r[c] for c in COLUMNS], width,
                 label=r["name"])
    bars.set_xticks(x, COLUMNS)
    bars.set_ylabel("MPJPE (mm)")
    bars.legend(fontsize=7)
    bars.grid(alpha=0.3, axis="y")
    kws = sorted({r["keypoint_weight"] for r in entry["grid"]})
    tws = sorted({r["turn_weight"] for r in entry["grid"]})
    table = np.array([[next(r["AdvOcc-80"] for r in entry["grid"]
                            if r["keypoint_weight"] == k and r["turn_weight"] == t)
                       for t in tws] for k in kws])
    im = heat.imshow(table, cmap="viridis_r", aspect="auto")
    middle = (table.min() + table.max()) / 2
    for (a, b), v in np.ndenumerate(table):  # dark text on the light (low) cells
        heat.text(b, a, f"{v:.0f}", ha="center", va="center", fontsize=7,
                  color="k" if v < middle else "w")
    heat.set_xticks(range(len(tws)), [f"{t:g}" for t in tws], fontsize=7)
    heat.set_yticks(range(len(kws)), [f"{k:g}" for k in kws], fontsize=7)
    heat.set_xlabel("turn weight")
    heat.set_ylabel("keypoint weight")
    heat.set_title("AdvOcc-80 MPJPE (mm) per rule", fontsize=9)
    fig.colorbar(im, ax=heat)
    env = entry["environment"]
    fig.suptitle(f"choice among {entry['hypotheses']} turned starts, {entry['people']} "
                 f"{'test' if entry.get('test') else 'validation'} people, {env['date']}, "
                 f"{env['device']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
