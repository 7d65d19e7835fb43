"""Whether the choice among a cold fit's turned starts holds behind the worst square.

    python bench/hypothesis_choice.py [--people 12] [--stride 40] [--device cuda] [--store]
                                      [--store-blend] [--fits FILE] [--test]

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
start" picks the fit nearest the truth: what a perfect choice would give. "Least expected
error" rows hedge instead of choosing the lowest score: each start's chance is a softmax of
its score, and the start with the least expected MPJPE to the others is kept (minimum Bayes
risk over the starts); the fitter does not offer it, so it is compared, never stored.
"Regression head when" rows fall back to the network's regressed pose instead of a fit: when
a start turned more than 90 degrees from the kept one scores within a margin of it (a near
tie with a far turn, as the depth twin gives), or when the kept start turns far from the
regressed turn. Also compared, never stored. "Blend of the starts" rows output no one
start: the starts' joints averaged with weights softmax(-score / temperature), the
posterior mean when the scores are read as the starts' chances (what the fitter outputs
with hypothesis_blend_temperature; the kept start still gives the state and mesh).
"Turn prior" rows (model files with a turn head, ``nbf-ros turn-head``) add to the score
a weight times -log of the head's density at each start's facing azimuth
(hypothesis_turn_prior_weight; the head reads each image and its mirror image, no fitting,
so a cache of fits serves a retrained head too), then keep the lowest or blend.
``--store-blend`` writes the blend temperature and turn prior weight of the row with the
lowest four-column mean among the model file's rule, the blends and the turn prior rows
(0 and 0 when the rule wins) into the model file; it blends by the file's score, so choose
the weights first (``--store``) and the blend in a second run.
``--fits FILE`` keeps every start's fit (and its joints) so that new rules can be ranked
again without fitting.

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

from nbf_ros.body.rotations import rotation_angle  # noqa: E402
from nbf_ros.eval.occlusion import (  # noqa: E402
    common_joints,
    covered,
    grid_corners,
    pose_errors,
    textured_square,
    with_square,
)
from nbf_ros.fitting.fitter import blended_joints, choice_score, turn_density  # noqa: E402
from nbf_ros.nbv.camera import CropCamera, project  # noqa: E402
from nbf_ros.node_settings import build_pipeline, default_settings  # noqa: E402
from nbf_ros.vision.turn_head import bin_targets, crop_ray, facing_azimuth  # noqa: E402
from nbf_ros.vision.weights import (  # noqa: E402
    fit_identity,
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
    joints: np.ndarray  # [H, 12, 3] metres, the common joints of every start's fit
    mpjpe: np.ndarray  # [H] mm, common joints
    selection: np.ndarray  # [H] mm on the joints the square leaves visible
    regression: tuple[float, float]  # the regression head's (MPJPE, selection error)
    # [H] the turn head's density at each start's facing azimuth (attach_facings); never
    # cached: the head may be retrained while the fits stay.
    facing: torch.Tensor | None = None

    def score(self, cfg) -> torch.Tensor:  # noqa: ANN001
        """[H] what the fitter's choice with ``cfg``'s weights minimises, per start."""
        return choice_score(cfg, self.loss, self.projected, self.keypoints, self.given_root,
                            self.root, self.facing)


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
        jobs = square_jobs(person.box, stride, width, height)
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
                free = left_visible(keypoints, side, corner)
                part = slice(k * hyp, (k + 1) * hyp)
                images.append(Image(
                    person=i, side=side, loss=res.loss[part].cpu(),
                    projected=projected[part],
                    keypoints=(read.keypoints[rows[part]].cpu(),
                               read.keypoint_confidence[rows[part]].cpu()),
                    given_root=read.regression.rotations[rows[part], 0].cpu(),
                    root=res.state.rotations[part, 0].cpu(),
                    joints=joints[k],
                    mpjpe=np.array([pose_errors(j, truth)[0] for j in joints[k]]),
                    selection=np.array([pose_errors(j, truth, free)[0] for j in joints[k]]),
                    regression=(pose_errors(regressed[k], truth)[0],
                                pose_errors(regressed[k], truth, free)[0])))
    return images


def square_jobs(box: np.ndarray, stride: int, width: int,
                height: int) -> list[tuple[int, tuple[int, int] | None]]:
    """(side, corner) of one person's images in fitting order: clean (0, None), then every
    40 px and every 80 px square of the stride grid over the box."""
    jobs: list[tuple[int, tuple[int, int] | None]] = [(0, None)]
    for side in (40, 80):
        jobs += [(side, c) for c in grid_corners(box, side, stride, width, height)]
    return jobs


def left_visible(keypoints: np.ndarray, side: int, corner: tuple[int, int] | None) -> np.ndarray:
    """bool [12]: the common joints a square leaves visible, what picks the worst square
    (all of them when it hides every one, or when there is no square)."""
    free = np.ones(12, bool) if corner is None else ~covered(keypoints, corner, side)
    return free if free.any() else np.ones(12, bool)


def evaluate(images: list[Image], pick) -> dict[str, float]:  # noqa: ANN001
    """Mean MPJPE (mm) per column when ``pick`` (Image -> start index, or None for the
    regression head) chooses; the adversary takes each person's worst square."""
    return worst_case(images, pick_errors(pick))


def pick_errors(pick: Callable[[Image], int | None]
                ) -> Callable[[Image], tuple[float, float]]:
    """Image -> (MPJPE, error on the joints left visible) of keeping start ``pick(img)``
    (None: the regression head)."""
    def errors(img: Image) -> tuple[float, float]:
        k = pick(img)
        return img.regression if k is None else (float(img.mpjpe[k]), float(img.selection[k]))
    return errors


def worst_case(images: list[Image], errors) -> dict[str, float]:  # noqa: ANN001
    """Mean MPJPE (mm) per column of an output whose ``errors`` (Image -> (MPJPE, error on
    the joints the square leaves visible)) are given; the adversary takes each person's
    square with the largest second one."""
    out = {}
    people = sorted({img.person for img in images})
    by_side = {side: [[img for img in images if img.person == p and img.side == side]
                      for p in people] for side in (0, 40, 80)}
    out["clean"] = float(np.mean([errors(imgs[0])[0] for imgs in by_side[0]]))
    out["all squares"] = float(np.mean([errors(img)[0] for img in images if img.side]))
    for side in (40, 80):
        worst = [max((errors(img) for img in imgs), key=lambda e: e[1])[0]
                 for imgs in by_side[side]]
        out[f"AdvOcc-{side}"] = float(np.mean(worst))
    return out


def worst_square_diagnosis(images: list[Image], pick) -> list[dict]:  # noqa: ANN001
    """Per person, at ``pick``'s worst 80 px square: the kept start's and the closest
    start's MPJPE, the angle between their roots, and which of the two the fit's loss alone
    ranks lower (what tipped the choice: the features, or the other terms of the score)."""
    out = []
    for person in sorted({img.person for img in images}):
        imgs = [img for img in images if img.person == person and img.side == 80]
        worst = max(imgs, key=lambda img: img.selection[pick(img)])
        kept, best = pick(worst), int(np.argmin(worst.mpjpe))
        turn = rotation_angle(worst.root[kept].T @ worst.root[best])
        out.append({"person": person, "kept": float(worst.mpjpe[kept]),
                    "closest": float(worst.mpjpe[best]),
                    "turn_deg": float(torch.rad2deg(turn)),
                    "loss_gap": float(worst.loss[best] - worst.loss[kept]),
                    "loss_prefers_kept": bool(worst.loss[kept] < worst.loss[best])})
    return out


def rule(cfg) -> Callable[[Image], int]:  # noqa: ANN001
    """The start a choice with ``cfg``'s weights keeps, per image."""
    def pick(img: Image) -> int:
        score = img.score(cfg)
        return int(score.argmin())
    return pick


def least_expected_error(cfg, temperature: float,  # noqa: ANN001
                         distances: dict[int, np.ndarray]) -> Callable[[Image], int]:
    """The start with the least expected MPJPE to the others, each weighted by its chance
    under the choice score (softmax of -score / temperature): a hedge between near ties.
    ``distances`` holds each image's MPJPE between its starts, filled on first use and
    shared between temperatures."""
    def pick(img: Image) -> int:
        if id(img) not in distances:
            distances[id(img)] = np.array([[pose_errors(a, b)[0] for b in img.joints]
                                           for a in img.joints])
        score = img.score(cfg).double().numpy()
        chance = np.exp(-(score - score.min()) / temperature)
        return int(np.argmin(distances[id(img)] @ (chance / chance.sum())))
    return pick


def tie_fallback(cfg, margin: float,  # noqa: ANN001
                 apart_deg: float = 90.0) -> Callable[[Image], int | None]:
    """The kept start, or the regression head (None) when a start turned more than
    ``apart_deg`` from it scores within ``margin`` of it."""
    def pick(img: Image) -> int | None:
        score = img.score(cfg)
        k = int(score.argmin())
        apart = torch.rad2deg(rotation_angle(img.root[k].T @ img.root)) > apart_deg
        return None if bool((score[apart] - score[k] < margin).any()) else k
    return pick


def turn_fallback(cfg, max_deg: float) -> Callable[[Image], int | None]:  # noqa: ANN001
    """The kept start, or the regression head (None) when its root turns more than
    ``max_deg`` from the regressed root."""
    kept = rule(cfg)

    def pick(img: Image) -> int | None:
        k = kept(img)
        turn = torch.rad2deg(rotation_angle(img.given_root[k].T @ img.root[k]))
        return None if float(turn) > max_deg else k
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
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3],
                        help="temperatures of the least-expected-error rows (score units)")
    parser.add_argument("--tie-margins", type=float, nargs="+", default=[0.02, 0.04, 0.08],
                        help="score margins of the regression-when-tied rows")
    parser.add_argument("--max-turns", type=float, nargs="+", default=[30.0, 60.0, 90.0],
                        help="turns (degrees) of the regression-when-turned rows")
    parser.add_argument("--fits", type=Path,
                        help="cache of every start's fit: read when it exists (same model, "
                             "people and grid), else written after fitting")
    parser.add_argument("--blend-temperatures", type=float, nargs="+",
                        default=[0.01, 0.03, 0.1, 0.3, 1.0],
                        help="temperatures of the blend rows (score units)")
    parser.add_argument("--turn-prior-weights", type=float, nargs="+",
                        default=[0.0, 0.03, 0.1, 0.3, 1.0],
                        help="hypothesis_turn_prior_weight values of the turn prior rows (score "
                             "units per unit of log density; rows only with a turn head)")
    parser.add_argument("--store", action="store_true",
                        help="write the best rule's two weights into the model file")
    parser.add_argument("--store-blend", action="store_true",
                        help="write the blend temperature with the lowest four-column mean "
                             "(0: keep the rule's start) into the model file")
    parser.add_argument("--test", action="store_true",
                        help="the occlusion benchmark's test people (a check; never stored)")
    args = parser.parse_args(argv)
    if args.people < 1 or args.stride < 1 or args.batch < 1:
        parser.error("--people, --stride and --batch must be positive")
    if min(args.temperatures) <= 0 or min(args.blend_temperatures) <= 0:
        parser.error("--temperatures and --blend-temperatures must be positive")
    if args.test and (args.store or args.store_blend):
        parser.error("--test checks a rule on held-out people: choose with --store without it")
    if args.store and args.store_blend:
        parser.error("store the weights first (--store), then the blend by the stored score "
                     "(--store-blend, a second run; with --fits it takes seconds)")
    first_seed = held_out_first_seed() if args.test else VALIDATION_FIRST_SEED
    settings = dict(default_settings(), model=args.model, device=args.device)
    pipeline, _ = build_pipeline(settings)
    cfg = dataclasses.replace(pipeline.fit_config, hypotheses=pipeline.cold_hypotheses)
    if cfg.hypotheses < 2:
        raise SystemExit(f"{args.model} stores one start: there is no choice to rank")
    pipeline.fit_config = cfg
    model = resolve_model_path(args.model)
    key = None if args.fits is None else {
        # What shapes the fits, not the file's name: a retrained file at the same path fits
        # anew, while re-chosen choice settings (--store) keep the cache.
        "model": fit_identity(model), "seed": first_seed,
        "people": args.people, "stride": args.stride, "hypotheses": cfg.hypotheses}
    images = cached_fits(args.fits, key)
    if images is None:
        images = fit_images(pipeline, first_seed, args.people, args.stride, args.batch)
        if args.fits is not None:
            torch.save({"key": key, "images": [cached_fields(i) for i in images]},
                       args.fits)
    scenes = list(single_people(first_seed, args.people))  # rendered once, for both
    if pipeline.turn_head is not None:
        attach_facings(pipeline, images, scenes, args.stride)
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
    # Rows --store-blend may pick say which blend temperature and turn prior they used.
    prior = current.hypothesis_turn_prior_weight
    rows.insert(2, dict(name=f"the model file's rule (keypoint {shipped[0]:g}, turn "
                             f"{shipped[1]:g}{f', turn prior {prior:g}' if prior else ''})",
                        blend_temperature=0.0, turn_prior=prior,
                        **evaluate(images, rule(current))))
    distances: dict[int, np.ndarray] = {}
    for t in args.temperatures:  # a hedge the fitter does not offer: compared, never stored
        rows.insert(-1, dict(name=f"least expected error, the model file's score at "
                                  f"temperature {t:g}",
                             **evaluate(images, least_expected_error(current, t, distances))))
    truth = truths(images, scenes, args.stride)
    blend_t = cfg.hypothesis_blend_temperature
    for t in sorted({*args.blend_temperatures, *([blend_t] if blend_t > 0 else [])}):
        rows.insert(-1, dict(name=f"blend of the starts, the model file's score at "
                                  f"temperature {t:g}", blend_temperature=t, turn_prior=prior,
                             **worst_case(images, blend_errors(current, t, truth))))
    prior_rows = []
    if pipeline.turn_head is not None:
        for w in args.turn_prior_weights:
            weighted = dataclasses.replace(current, hypothesis_turn_prior_weight=w)
            prior_rows.append(dict(name=f"turn prior {w:g}, the kept start", turn_prior=w,
                                   blend_temperature=0.0,
                                   **evaluate(images, rule(weighted))))
            prior_rows += [dict(name=f"turn prior {w:g}, blend at temperature {t:g}",
                                turn_prior=w, blend_temperature=t,
                                **worst_case(images, blend_errors(weighted, t, truth)))
                           for t in args.blend_temperatures]
    for r in prior_rows:
        rows.insert(-1, r)
    for m in args.tie_margins:  # fallbacks the fitter does not offer: compared, never stored
        rows.insert(-1, dict(name=f"regression head when a start over 90 deg away scores "
                                  f"within {m:g}", **evaluate(images, tie_fallback(current, m))))
    for d in args.max_turns:
        rows.insert(-1, dict(name=f"regression head when the kept start turns over {d:g} deg "
                                  "from the regressed turn",
                             **evaluate(images, turn_fallback(current, d))))
    entry = {"model": model.name,
             "environment": environment(pipeline.device), "people": args.people,
             "stride": args.stride, "seed": first_seed, "test": args.test,
             "hypotheses": cfg.hypotheses,
             "images": len(images), "rows": rows, "grid": grid,
             "worst_80": worst_square_diagnosis(images, rule(current)),
             "best": {"keypoint_weight": best["keypoint_weight"],
                      "turn_weight": best["turn_weight"]}}
    name = "hypothesis_choice_test" if args.test else "hypothesis_choice"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(entry, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(entry))
    plot(entry, RESULTS / f"{name}.png")
    print(markdown(entry))
    if args.store_blend:  # the lowest four-column mean among the rule, blends, turn priors
        kept = [r for r in rows if r["name"].startswith(("the model file's rule", "blend of",
                                                         "turn prior"))]
        chosen = min(kept, key=lambda r: np.mean([r[c] for c in COLUMNS]))
        t, w = chosen["blend_temperature"], chosen["turn_prior"]
        update_model_meta(model, fit=dict(fit_settings(pipeline.meta),
                                          hypothesis_blend_temperature=t,
                                          hypothesis_turn_prior_weight=w))
        print(f"stored blend temperature {t:g} and turn prior weight {w:g} in {model}")
    if args.store:  # the file's other fit settings as the pipeline read them
        update_model_meta(model, fit=dict(fit_settings(pipeline.meta),
                                          hypothesis_keypoint_weight=best["keypoint_weight"],
                                          hypothesis_turn_weight=best["turn_weight"]))
        print(f"stored keypoint weight {best['keypoint_weight']:g}, turn weight "
              f"{best['turn_weight']:g} in {model}")
    return 0


def replayed(images: list[Image], scenes: list, stride: int):  # noqa: ANN201
    """(person index, scene, its (side, corner) jobs, its images) per person, in fitting
    order, from the scenes the fits were made of (``single_people`` of their seed); stops
    with a message when the fits do not follow those scenes and the grid."""
    at = 0
    for p, scene in enumerate(scenes):
        height, width = scene.image.shape[:2]
        jobs = square_jobs(scene.people[0].box, stride, width, height)
        mine = images[at:at + len(jobs)]
        if [(img.person, img.side) for img in mine] != [(p, s) for s, _ in jobs]:
            raise SystemExit("the fits do not follow their seeds and grid: fit them again")
        yield p, scene, jobs, mine
        at += len(jobs)
    if at != len(images):
        raise SystemExit("the fits do not follow their seeds and grid: fit them again")


def truths(images: list[Image], scenes: list,
           stride: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each image's (true common joints [12, 3], joints its square leaves visible [12]), by
    id, from the scenes its fits were made of (``replayed``)."""
    out = {}
    for _, scene, jobs, mine in replayed(images, scenes, stride):
        joints, keypoints = person_targets(scene.people[0])
        out.update({id(img): (joints, left_visible(keypoints, side, corner))
                    for img, (side, corner) in zip(mine, jobs, strict=True)})
    return out


def blend_errors(cfg, temperature: float,  # noqa: ANN001
                 truth: dict[int, tuple[np.ndarray, np.ndarray]]):  # noqa: ANN201
    """Image -> (MPJPE, error on the joints left visible) of the starts' joints blended as
    the fitter does with ``hypothesis_blend_temperature`` (fitter.blended_joints)."""
    def errors(img: Image) -> tuple[float, float]:
        joints = blended_joints(img.score(cfg)[None].double(),
                                torch.as_tensor(img.joints)[None].double(), temperature)[0]
        true, visible = truth[id(img)]
        return pose_errors(joints.numpy(), true)[0], pose_errors(joints.numpy(), true,
                                                                 visible)[0]
    return errors


def cached_fields(img: Image) -> dict:
    """What a --fits cache keeps of an image: everything the fit made (not the facings)."""
    return {k: v for k, v in dataclasses.asdict(img).items() if k != "facing"}


def attach_facings(pipeline, images: list[Image], scenes: list,  # noqa: ANN001
                   stride: int) -> None:
    """Set each image's facing: the pipeline's turn head's density at every start's facing
    azimuth, read from the image rebuilt from its scene and square (no fitting)."""
    for img, density in zip(images, facings(pipeline, images, scenes, stride), strict=True):
        img.facing = density


def facings(pipeline, images: list[Image], scenes: list, stride: int,  # noqa: ANN001
            perfect: bool = False) -> list[torch.Tensor]:
    """Each image's [H] turn density at its starts' facing azimuths: the pipeline's turn
    head's reading of the image rebuilt from its scene and square, or with ``perfect`` a
    perfect head's (its training target, bin_targets, at the person's true azimuth)."""
    out = []
    for p, scene, jobs, mine in replayed(images, scenes, stride):
        person = scene.people[0]
        squares = {side: textured_square(square_seed(p, side), side) for side in (40, 80)}
        shown = [scene.image if c is None else with_square(scene.image, squares[s], c)
                 for s, c in jobs]
        crops, crop_K = pipeline.person_crops(shown, scene.K, person.box)
        size = crops.shape[-1]
        camera = CropCamera(crop_K, size, size)
        if perfect:
            root = torch.as_tensor(person.rotations[0], dtype=crop_K.dtype,
                                   device=crop_K.device)
            weights = bin_targets(facing_azimuth(root.expand(len(jobs), 3, 3),
                                                 crop_ray(crop_K, size, size)))
        else:
            with torch.no_grad():
                weights = pipeline.turn_of(pipeline.engine(crops), crops)
        roots = torch.stack([img.root for img in mine]).to(crop_K)
        out += list(turn_density(weights, roots, camera).cpu())
    return out


def cached_fits(path: Path | None, key: dict | None) -> list[Image] | None:
    """The fits stored at ``path`` for the same model, people and grid, else None."""
    if path is None or not path.is_file():
        return None
    try:
        stored, images = load_fits(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise SystemExit(f"{path} is not a cache of --fits ({exc}): remove it or name "
                         "another --fits file") from None
    if stored != key:
        raise SystemExit(f"{path} holds fits of {stored}, not {key}: "
                         "remove it or name another --fits file")
    return images


def load_fits(path: Path) -> tuple[dict, list[Image]]:
    """A --fits cache: what it was fitted with (model hash, seed, people, grid, starts) and
    its images."""
    # Tensors, numbers and numpy arrays only: a file that pickles anything else (code to
    # run on load) is refused, whoever wrote it.
    arrays = [np._core.multiarray._reconstruct, np.ndarray, np.dtype,
              *(type(np.dtype(kind)) for kind in (np.float64, np.float32, np.int64, np.int32,
                                                  np.bool_))]
    with torch.serialization.safe_globals(arrays):
        stored = torch.load(path, weights_only=True)
    return stored.get("key"), [Image(**fields) for fields in stored["images"]]


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
                 if test else ".") + (
                 " \"Turn prior w\" rows add w x -log of the model's turn head's density at "
                 "each start's facing azimuth to the score, then keep the lowest or blend."
                 if any(r["name"].startswith("turn prior") for r in entry["rows"]) else ""),
             "", head,
             "|---" * (len(COLUMNS) + 1) + "|"]
    for r in entry["rows"]:
        lines.append(f"| {r['name']} | " + " | ".join(f"{r[c]:.1f}" for c in COLUMNS) + " |")
    if "worst_80" in entry:
        lines += ["", *_diagnosis_lines(entry["worst_80"])]
    lines += ["", "Rules (choice_score weights; the turn weight is per radian squared):", "",
              head + " mean |", "|---" * (len(COLUMNS) + 2) + "|"]
    best = entry["best"]
    for r in entry["grid"]:
        mark = "**" if (r["keypoint_weight"], r["turn_weight"]) == (
            best["keypoint_weight"], best["turn_weight"]) else ""
        lines.append(f"| {mark}{r['name']}{mark} | "
                     + " | ".join(f"{r[c]:.1f}" for c in COLUMNS) + f" | {r['score']:.1f} |")
    return "\n".join(lines) + "\n"


def _diagnosis_lines(rows: list[dict]) -> list[str]:
    """The worst-square diagnosis as a table (placed before the grid of rules)."""
    wrong = [r for r in rows if r["kept"] > r["closest"]]
    by_loss = sum(r["loss_prefers_kept"] for r in wrong)
    lines = ["Behind the model file's rule's worst 80 px square, per person: the kept start, "
             "the start closest to the truth, the angle between their roots, and whether "
             f"the fit's loss alone already prefers the kept one. Of {len(wrong)} people "
             f"where the choice misses the closest start, the loss prefers the kept start "
             f"for {by_loss}.", "",
             "| person | kept start (mm) | closest start (mm) | turn between them | loss "
             "prefers kept | loss of closest minus kept |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['person']} | {r['kept']:.0f} | {r['closest']:.0f} | "
              f"{r['turn_deg']:.0f} deg | {'yes' if r['loss_prefers_kept'] else 'no'} | "
              f"{r.get('loss_gap', float('nan')):+.4f} |" for r in rows]
    return lines


def plot(entry: dict, png: Path) -> None:
    """Bars per column for the reference rows and the best rule; AdvOcc-80 over the grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = min(entry["grid"], key=lambda r: r["score"])
    families = ("least expected", "blend of", "turn prior", "regression head when")
    shown = [r for r in entry["rows"] if not r["name"].startswith(families)]
    for family in families:
        # One bar group per family: its row with the lowest four-column mean.
        members = [r for r in entry["rows"] if r["name"].startswith(family)]
        if members:
            shown.insert(-1, min(members, key=lambda r: np.mean([r[c] for c in COLUMNS])))
    shown.append(dict(best, name="best rule: " + best["name"]))
    fig, (bars, heat) = plt.subplots(1, 2, figsize=(12, 5.2),
                                     gridspec_kw={"width_ratios": [1.6, 1]})
    x = np.arange(len(COLUMNS))
    width = 0.8 / len(shown)
    for k, r in enumerate(shown):
        bars.bar(x + (k - (len(shown) - 1) / 2) * width, [r[c] for c in COLUMNS], width,
                 label=r["name"])
    bars.set_xticks(x, COLUMNS)
    bars.set_ylabel("MPJPE (mm)")
    bars.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)
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
