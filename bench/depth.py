"""RGB-D: how much registered depth improves the fit (issue 31), measured on synthetic bags
with a sensor's faults, and what it costs per frame.

    python bench/depth.py [--frames 15] [--bags /tmp/nbf_depth_bags]

Writes (or reuses) six short bags with `nbf_ros.synth.sequences.write_sequence_bag`: one
and two people, a table, a pole or a panel between the camera and the subject, 640 x 480,
focal 0.6-0.75 x width (RealSense-like fields of view), subjects about 2 to 5 m away,
16UC1 depth from `nbf_ros.synth.depth.DepthSensor` (noise 1.5 mm per m^2, holes, flying
pixels, stamps 2-8 ms off the colour). Every bag is then replayed through the node's own
pipeline and tracker (config/pose.yaml settings but for SETTINGS below,
`nbf_ros.node_settings.build_pipeline`),
depth paired to colour by `nbf_ros.stream.pairing.StampBuffer` with the node's default
slop, once per condition:

* colour only (as the node without depth);
* depth: every depth switch of FitConfig on (the shipped setting);
* depth without the depth term, without the start from depth, without depth occlusion,
  with shape held (FitConfig.depth_shape off).

Figures on the people every condition matched in the same frames: absolute MPJPE (camera
frame, no alignment), root (pelvis) position error, pelvis-aligned MPJPE, PA-MPJPE, joint
visibility ROC AUC against the scene's true occlusion, and the pipeline's time per frame.
Then the cost of depth at equal work (``fit_cost``: the same prepared frames fitted with and
without depth, every fit all its steps).
Writes bench/results/depth.json, depth.md and depth.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import RESULTS, environment  # noqa: E402

CONDITIONS: dict[str, dict[str, Any] | None] = {
    "colour only": None,
    "depth": {},
    "depth, no depth term": {"depth_weight": 0.0},
    "depth, no start from depth": {"depth_start": False},
    "depth, no depth occlusion": {"depth_occlusion": False},
    "depth, shape held": {"depth_shape": False},
}
MAIN = ("colour only", "depth")  # run on every bag; the others where --switch-bags says
# (seed, people, occluder kind): each kind with one and with two people.
BAGS = [(301, 1, "table"), (302, 2, "table"), (303, 1, "pole"), (304, 2, "pole"),
        (305, 1, "panel"), (306, 2, "panel")]
SLOP_MS = 20.0  # the node's default depth_slop
# Over config/pose.yaml: the feature network's own person detector. The real-trained front
# end (NanoDet + BlazePose, issue 29) found no one in these renders on 2026-12-07 (4 frames of
# the first bag: 0 people, against 4 of 4 for the network's head), so depth is measured on
# the fit the network starts.
SETTINGS = {"landmarks": False, "detector": "network"}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=15, help="frames per bag (default 15)")
    parser.add_argument("--bags", type=Path, default=Path("/tmp/nbf_depth_bags"),
                        help="folder of the synthetic bags (made when missing)")
    parser.add_argument("--use-frames", type=int, default=None,
                        help="replay only the first N frames of each bag (default: all)")
    parser.add_argument("--only", type=int, nargs="*", default=None, metavar="I",
                        help="replay only these bags (indices into BAGS; default: all)")
    parser.add_argument("--name", default="depth",
                        help="results file name in bench/results (default depth)")
    parser.add_argument("--conditions", nargs="*", default=list(CONDITIONS),
                        help="which conditions to run (default: all)")
    parser.add_argument("--switch-bags", type=int, nargs="*", default=None, metavar="I",
                        help="run the switch-off conditions only on these bags (indices "
                             "into BAGS; default: every bag); the others get colour only "
                             "and depth")
    parser.add_argument("--rows", type=Path, default=None,
                        help="also pickle every matched person's figures here")
    parser.add_argument("--merge", type=Path, nargs="*", default=None, metavar="ROWS",
                        help="no runs: report the union of earlier runs' --rows pickles "
                             "(e.g. a run cut short and one over the remaining bags)")
    parser.add_argument("--cost-frames", type=int, default=3, metavar="N",
                        help="frames (the first of each bag in turn) for the cost of depth "
                             "at equal work (0: skip)")
    parser.add_argument("--cost-only", action="store_true",
                        help="measure only the cost (results <name>_cost.json and .md)")
    parser.add_argument("--cost-repeats", type=int, default=2, metavar="R",
                        help="times each of those frames is fitted with and without depth")
    return parser.parse_args()


def make_bags(folder: Path, frames: int) -> list[Path]:
    """The benchmark's bags, written where missing."""
    from nbf_ros.synth.depth import DepthSensor
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.scenes import SceneConfig
    from nbf_ros.synth.sequences import SequenceConfig, write_sequence_bag

    mesh = None
    paths = []
    for seed, people, kind in BAGS:
        path = folder / f"depth_{seed}_{people}p_{kind}_{frames}f"
        paths.append(path)
        if path.exists():
            continue
        mesh = mesh or BodyMesh.default()
        scene = SceneConfig(height=480, width=640, subject_height=(0.33, 0.7),
                            focal=(0.6, 0.75), extra_people=people - 1,
                            extra_person_probability=1.0, extra_depth=(0.0, 1.5),
                            occluder_probability=0.0)
        config = SequenceConfig(frames=frames, fps=15.0, scene=scene, occluder_kinds=(kind,),
                                depth=DepthSensor())
        print(f"writing {path.name}", flush=True)
        write_sequence_bag(path, mesh, seed, config, progress=False)
    return paths


def read_bag(path: Path) -> list[tuple[Any, np.ndarray | None]]:
    """Each frame of a bag with its depth map paired by stamp (None: none within the slop)."""
    from nbf_ros.io.bag_reader import FrameReader, read_messages
    from nbf_ros.io.convert import stamp_to_ns
    from nbf_ros.io.depth_image import DEPTH_TOPIC, decode_depth
    from nbf_ros.stream.pairing import Paired, StampBuffer

    depth: StampBuffer[Any] = StampBuffer("depth", capacity=10_000)
    for _, msg in read_messages(path, DEPTH_TOPIC):
        depth.put(stamp_to_ns(msg.header.stamp), msg)
    out = []
    with FrameReader(path, "/camera/image_raw", "/camera/camera_info",
                     "/ground_truth/humans") as reader:
        for frame in reader:
            got = depth.match(frame.stamp_ns, int(SLOP_MS * 1e6), stopped_after_s=1e9)
            d = None
            if isinstance(got, Paired):
                m = got.item
                d = decode_depth(m.height, m.width, m.encoding, m.step, m.data,
                                 m.is_bigendian)
            out.append((frame, d))
    return out


def run_condition(frames: list[tuple[Any, np.ndarray | None]], switches: dict | None
                  ) -> tuple[list, list[float]]:
    """FrameRecords of one bag under one condition, and the time of each frame (s)."""
    import torch

    from nbf_ros.eval.frame_eval import FrameRecord
    from nbf_ros.node_settings import build_pipeline, default_settings

    torch.manual_seed(0)
    pipe, tracker = build_pipeline(dict(default_settings(), **SETTINGS))
    if switches is not None:
        pipe.fit_config = replace(pipe.fit_config, **switches)
        pipe.tracking_config = replace(pipe.tracking_config, **switches)
    records, seconds = [], []
    for frame, depth in frames:
        use = depth if switches is not None else None
        tic = time.perf_counter()
        humans = pipe.track(frame.rgb, frame.K, tracker, frame.stamp_ns / 1e9, depth=use)
        seconds.append(time.perf_counter() - tic)
        records.append(FrameRecord(frame.stamp_ns, humans, frame.truth))
    return records, seconds


def fit_cost(frames: list[tuple[Any, np.ndarray | None]], repeats: int) -> dict[str, Any]:
    """The cost of depth at equal work: each frame prepared once (network and depth on the
    crop grid), then its people fitted cold with and without its depth, alternately
    ``repeats`` times, every fit running all FitConfig.iterations (no convergence stop:
    a fit with depth that stops earlier would look cheaper than its steps are)."""
    import math

    import torch

    from nbf_ros.node_settings import build_pipeline, default_settings

    torch.manual_seed(0)
    pipe, _ = build_pipeline(dict(default_settings(), **SETTINGS))
    pipe.fit_config = replace(pipe.fit_config, tolerance=-math.inf, time_budget_ms=None)
    fit_ms: dict[str, list[float]] = {"colour only": [], "depth": []}
    crop_ms, people = [], 0
    load = [os.getloadavg()[0]]
    warm = True  # the first fit of a process pays for lazy set-up: run it once, untimed
    for frame, depth in frames:
        if depth is None:
            continue
        prepared = pipe.prepare(frame.rgb, frame.K, depth=depth)
        if prepared.depth is None:
            continue  # nobody detected: nothing to fit
        crop_ms.append(prepared.timing["depth"] * 1000)
        people += len(prepared.boxes)
        for repeat in range(repeats + warm):
            order = list(fit_ms) if repeat % 2 == 0 else list(fit_ms)[::-1]
            for name in order:
                run = replace(prepared, timing=dict(prepared.timing),
                              depth=prepared.depth if name == "depth" else None)
                pipe.finish(run)
                if not warm:
                    fit_ms[name].append(run.timing["fit"] * 1000)
            warm = False
        load.append(os.getloadavg()[0])
    base, with_depth = np.median(fit_ms["colour only"]), np.median(fit_ms["depth"])
    return {"frames": len(crop_ms), "people": people, "repeats": repeats,
            "iterations": pipe.fit_config.iterations,
            "fit_ms_median": {k: float(np.median(v)) for k, v in fit_ms.items()},
            "extra_fit_ms": float(with_depth - base),
            "extra_fit_share": float(with_depth / base - 1),
            "depth_to_crops_ms_median": float(np.median(crop_ms)),
            "load_1min": [float(min(load)), float(max(load))]}


def matched_rows(records: list, bag: str) -> dict[tuple, dict[str, Any]]:
    """Per matched (bag, stamp, true person): the errors and visibility of its estimate."""
    from nbf_ros.estimate import JointState
    from nbf_ros.eval.frame_eval import match_people, procrustes_errors
    from nbf_ros.eval.pose_metrics import joint_errors

    rows = {}
    for record in records:
        for e, t in match_people(record.estimates, record.truth):
            est, truth = record.estimates[e], record.truth[t]
            state = np.asarray(truth.joint_state)
            rows[(bag, record.stamp_ns, truth.track_id)] = {
                "abs": float(joint_errors(est.joints, truth.joints, root=None).mean() * 1000),
                "rel": float(joint_errors(est.joints, truth.joints).mean() * 1000),
                "pa": float(procrustes_errors(np.asarray(est.joints, float),
                                              np.asarray(truth.joints, float)).mean() * 1000),
                "root": float(np.linalg.norm(np.asarray(est.root_translation)
                                             - np.asarray(truth.root_translation)) * 1000),
                "true_z": float(truth.root_translation[2]),
                "z": float(est.root_translation[2]),
                "vis": np.asarray(est.joint_visibility, float),
                "visible": state == JointState.VISIBLE,
                "labelled": (state == JointState.VISIBLE) | (state == JointState.OCCLUDED),
            }
    return rows


def summary(rows: list[dict[str, Any]], seconds: list[float]) -> dict[str, Any]:
    """The condition's figures over the given rows."""
    from nbf_ros.eval.pose_metrics import roc_auc

    def stat(key: str, how: str = "mean") -> float:
        values = np.array([r[key] for r in rows])
        return float(values.mean() if how == "mean" else np.median(values))

    labelled = np.concatenate([r["labelled"] for r in rows])
    scores = np.concatenate([r["vis"] for r in rows])[labelled]
    visible = np.concatenate([r["visible"] for r in rows])[labelled]
    steady = seconds[1:] if len(seconds) > 1 else seconds  # the first frame loads and warms
    return {"people": len(rows), "abs_mpjpe_mm": stat("abs"), "root_error_mm": stat("root"),
            "root_error_median_mm": stat("root", "median"), "mpjpe_mm": stat("rel"),
            "pa_mpjpe_mm": stat("pa"), "visibility_auc": roc_auc(scores, visible),
            "ms_per_frame_median": float(np.median(steady) * 1000)}


def markdown(entry: dict[str, Any]) -> str:
    """The results as a Markdown page."""
    env = entry["environment"]
    lines = [f"# RGB-D depth as evidence (issue 31), {env['date']}, {env['device']}",
             "", f"Command: `{entry['command']}`"
             + (f" ({entry['minutes']:.1f} min). " if entry.get("minutes") is not None
                else ". ") +
             f"{entry['bags']} synthetic bags x {entry['frames']} frames (one and two "
             "people; table, pole and panel boards in front of the subject; 16UC1 depth "
             "with noise 1.5 mm/m^2, holes, flying pixels, stamps 2-8 ms off), true subject "
             f"distance {entry['true_z'][0]:.1f}-{entry['true_z'][1]:.1f} m. The node's "
             f"pipeline and tracker with config/pose.yaml settings and {entry['settings']}; "
             f"figures on the {entry['common_people']} person-frames every condition "
             "matched.", "",
             "| condition | absolute MPJPE (mm) | root error mean / median (mm) | "
             "pelvis-aligned MPJPE (mm) | PA-MPJPE (mm) | visibility AUC | ms / frame (median) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in entry["conditions"].items():
        lines.append(f"| {name} | {r['abs_mpjpe_mm']:.0f} | {r['root_error_mm']:.0f} / "
                     f"{r['root_error_median_mm']:.0f} | {r['mpjpe_mm']:.0f} | "
                     f"{r['pa_mpjpe_mm']:.0f} | {r['visibility_auc']:.3f} | "
                     f"{r['ms_per_frame_median']:.0f} |")
    base, depth = entry["conditions"].get("colour only"), entry["conditions"].get("depth")
    if base and depth:
        cut = 1 - depth["abs_mpjpe_mm"] / base["abs_mpjpe_mm"]
        lines += ["", f"Depth lowers absolute MPJPE by {cut:.0%} and puts the root "
                  f"{depth['root_error_median_mm']:.0f} mm (median) from the truth. Wall "
                  f"time per frame (median): {base['ms_per_frame_median']:.0f} ms colour "
                  f"only, {depth['ms_per_frame_median']:.0f} ms with depth (a fit stops "
                  "when it converges, after more or fewer steps with depth than without: "
                  "the cost at equal work is below)."]
    if entry.get("switches"):
        lines += ["", f"**Each switch off in turn** (FitConfig; bags "
                  f"{', '.join(entry['switch_bags'])}; the {entry['switch_people']} "
                  "person-frames every one of these conditions matched):", "",
                  "| condition | absolute MPJPE (mm) | root error mean / median (mm) | "
                  "pelvis-aligned MPJPE (mm) | PA-MPJPE (mm) | visibility AUC |",
                  "|---|---|---|---|---|---|"]
        for name, r in entry["switches"].items():
            lines.append(f"| {'depth, all on' if name == 'depth' else name} | "
                         f"{r['abs_mpjpe_mm']:.0f} | {r['root_error_mm']:.0f} / "
                         f"{r['root_error_median_mm']:.0f} | {r['mpjpe_mm']:.0f} | "
                         f"{r['pa_mpjpe_mm']:.0f} | {r['visibility_auc']:.3f} |")
    return "\n".join(lines + cost_lines(entry)) + "\n"


def cost_lines(entry: dict[str, Any]) -> list[str]:
    """The page's paragraph on the cost of depth, if measured."""
    env, cost, lines = entry["environment"], entry.get("cost"), []
    if cost:
        fit = cost["fit_ms_median"]
        lines += ["", f"**Cost of depth at equal work** ({cost['frames']} frames, "
                  f"{cost['people']} people, each frame's people fitted cold "
                  f"{cost['repeats']} times with and {cost['repeats']} times without its "
                  f"depth, alternately, every fit all {cost['iterations']} steps): fit "
                  f"{fit['colour only']:.0f} ms colour only, {fit['depth']:.0f} ms with depth "
                  f"(median per frame), {cost['extra_fit_ms']:+.0f} ms "
                  f"({cost['extra_fit_share']:+.0%}); putting the depth map on the crop grids "
                  f"{cost['depth_to_crops_ms_median']:.1f} ms per frame. 1-minute load "
                  f"average {cost['load_1min'][0]:.1f}-{cost['load_1min'][1]:.1f} on "
                  f"{env['device']}: " + (
                      "no other job ran (that load is this benchmark's own)."
                      if cost["load_1min"][1] <= (os.cpu_count() or 1) + 0.5 else
                      "other jobs shared the cores, so the times are upper bounds.")]
    return lines


def plot(entry: dict[str, Any], depth_points: dict[str, list[tuple[float, float]]],
         path: Path) -> None:
    """Bars of the errors per condition, and estimated against true distance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    bars = dict(entry["conditions"])
    for name, r in entry.get("switches", {}).items():  # on the switch bags' people
        bars["depth, all on (switch bags)" if name == "depth" else name] = r
    names = list(bars)
    keys = [("abs_mpjpe_mm", "absolute MPJPE"), ("root_error_median_mm", "root error (median)"),
            ("mpjpe_mm", "pelvis-aligned MPJPE")]
    x = np.arange(len(names))
    for k, (key, label) in enumerate(keys):
        ax.bar(x + (k - 1) * 0.27, [bars[n][key] for n in names], 0.27, label=label)
    ax.set_xticks(x, [n.replace(", ", ",\n") for n in names], fontsize=7, rotation=30,
                  ha="right")
    ax.set_ylabel("mm")
    ax.legend()
    ax.set_title("errors: colour only and depth on every bag, then the switches' bags")
    for name, marker in (("colour only", "x"), ("depth", "o")):
        if name in depth_points:
            pts = np.array(depth_points[name])
            bx.scatter(pts[:, 0], pts[:, 1], marker=marker, s=14, label=name)
    lo, hi = entry["true_z"]
    bx.plot([lo, hi], [lo, hi], "k--", lw=1)
    bx.set_xlabel("true root distance z (m)")
    bx.set_ylabel("estimated root z (m)")
    bx.legend()
    bx.set_title("distance of each matched person")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    """Run the benchmark and write its results (after every bag: a run cut short keeps the
    bags it finished)."""
    args = _arguments()
    unknown = [c for c in args.conditions if c not in CONDITIONS]
    if unknown or args.frames < 2:
        print(f"depth.py: unknown conditions {unknown} or --frames < 2", file=sys.stderr)
        return 2
    started = time.monotonic()
    if args.merge:
        return merge(args, started)
    paths = make_bags(args.bags, args.frames)
    if args.cost_only:
        return add_cost(args, paths)
    switch_bags = {paths[i] for i in (args.switch_bags if args.switch_bags is not None
                                      else range(len(paths)))}
    if args.only is not None:
        paths = [paths[i] for i in args.only]
    rows: dict[str, dict[tuple, dict[str, Any]]] = {c: {} for c in args.conditions}
    seconds: dict[str, list[float]] = {c: [] for c in args.conditions}
    cost_frames: list[tuple[Any, np.ndarray | None]] = []
    entry: dict[str, Any] = {}
    for done, path in enumerate(paths, 1):
        frames = read_bag(path)[: args.use_frames]
        if len(cost_frames) < args.cost_frames:
            cost_frames.append(frames[0])  # the first frame of each bag in turn
        paired = sum(d is not None for _, d in frames)
        print(f"{path.name}: {len(frames)} frames, {paired} with depth", flush=True)
        for name in args.conditions:
            if name not in MAIN and path not in switch_bags:
                continue
            records, secs = run_condition(frames, CONDITIONS[name])
            rows[name].update(matched_rows(records, path.name))
            seconds[name] += secs[1:]
            print(f"  {name}: {len(rows[name])} person-frames so far", flush=True)
        entry = report(args, rows, seconds, done, len(frames), started)
    if args.cost_frames > 0:
        print(f"cost: {len(cost_frames)} frames x {args.cost_repeats} with and without depth",
              flush=True)
        entry["cost"] = fit_cost(cost_frames, args.cost_repeats)
        entry["minutes"] = (time.monotonic() - started) / 60
        write_results(args.name, entry, rows)
    print(markdown(entry))
    return 0


def add_cost(args: argparse.Namespace, paths: list[Path]) -> int:
    """--cost-only: the cost of depth on the first frame of the first --cost-frames bags,
    written to bench/results/<name>_cost.json and .md."""
    import json

    import torch

    frames = [read_bag(p)[0] for p in paths[: args.cost_frames]]
    entry = {"environment": environment(torch.device("cpu")),
             "command": "python bench/depth.py " + " ".join(sys.argv[1:]),
             "cost": fit_cost(frames, args.cost_repeats)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}_cost.json").write_text(json.dumps(entry, indent=2) + "\n")
    page = "\n".join(cost_lines(entry)[1:]) + "\n"
    (RESULTS / f"{args.name}_cost.md").write_text(
        f"# RGB-D: the cost of depth per frame, {entry['environment']['date']}\n\n"
        f"Command: `{entry['command']}`.\n\n{page}")
    print(page)
    return 0


def report(args: argparse.Namespace, rows: dict[str, dict[tuple, dict[str, Any]]],
           seconds: dict[str, list[float]], bags: int, frames: int, started: float
           ) -> dict[str, Any]:
    """The results entry over the people every condition matched so far, written out."""
    import pickle

    import torch

    main = [c for c in args.conditions if c in MAIN]
    switches = [c for c in args.conditions if c not in MAIN]
    common = set.intersection(*(set(rows[c]) for c in main))
    true_z = [rows[main[0]][k]["true_z"] for k in common]
    entry = {"environment": environment(torch.device("cpu")),
             "command": "python bench/depth.py " + " ".join(sys.argv[1:]),
             "minutes": (time.monotonic() - started) / 60, "bags": bags,
             "settings": SETTINGS, "frames": frames, "common_people": len(common),
             "true_z": [min(true_z), max(true_z)],
             "conditions": {c: summary([rows[c][k] for k in sorted(common)], seconds[c])
                            for c in main}}
    if switches:  # each switch off against all on, on the people all of them matched
        every = set.intersection(*(set(rows[c]) for c in ["depth", *switches]))
        entry["switch_people"] = len(every)
        entry["switch_bags"] = sorted({k[0] for k in every})
        entry["switches"] = {c: summary([rows[c][k] for k in sorted(every)], seconds[c])
                             for c in ["depth", *switches]}
    write_results(args.name, entry, {c: rows[c] for c in main})
    if args.rows is not None:  # every matched person's figures, for a closer look / --merge
        args.rows.write_bytes(pickle.dumps({
            "command": entry["command"], "frames": frames, "seconds": seconds,
            "rows": {c: [rows[c][k] | {"key": k} for k in sorted(rows[c])]
                     for c in args.conditions}}))
    return entry


def merge(args: argparse.Namespace, started: float) -> int:
    """--merge: the report over the union of earlier runs' rows (their commands listed)."""
    import pickle

    rows: dict[str, dict[tuple, dict[str, Any]]] = {}
    seconds: dict[str, list[float]] = {}
    commands, frames = [], 0
    for path in args.merge:
        run = pickle.loads(path.read_bytes())
        commands.append(run["command"])
        frames = max(frames, run["frames"])
        for c, listed in run["rows"].items():
            rows.setdefault(c, {}).update({r["key"]: r for r in listed})
            seconds.setdefault(c, []).extend(run["seconds"].get(c, []))
    args.conditions = [c for c in CONDITIONS if c in rows]
    args.rows = None
    bags = len({k[0] for k in rows["colour only"]})
    entry = report(args, rows, seconds, bags, frames, started)
    entry["command"] = " and ".join(f"`{c}`" for c in commands).strip("`")
    entry["minutes"] = None  # the runs' own; ms / frame only from runs that recorded it
    write_results(args.name, entry, {c: rows[c] for c in MAIN})
    print(markdown(entry))
    return 0


def write_results(name: str, entry: dict[str, Any],
                  rows: dict[str, dict[tuple, dict[str, Any]]]) -> None:
    """bench/results/<name>.json, .md and .png."""
    import json

    common = set.intersection(*(set(r) for r in rows.values()))
    points = {c: [(r[k]["true_z"], r[k]["z"]) for k in sorted(common)] for c, r in rows.items()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(entry, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(entry))
    plot(entry, points, RESULTS / f"{name}.png")


if __name__ == "__main__":
    raise SystemExit(main())
