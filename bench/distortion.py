"""Lens distortion (issue 32): what undistorting a distorting camera's frames changes, on a
synthetic bag recorded through a plumb_bob lens.

    python bench/distortion.py [--frames 8] [--seeds 3201 3202] [--work /tmp/nbf_distortion]

Writes bags with `nbf_ros.synth.sequences.write_sequence_bag` (SequenceConfig.distortion:
640 x 480, focal 0.6-0.7 x width, i.e. a wide-angle webcam's 70-80 degree field of view,
walking people, the rendered frames resampled through the lens and D written into
camera_info, the truth's pixels moved with it), then runs

    nbf-ros eval BAG... --out OUT --param undistort=true   (and undistort=false)

on them (offline, config/pose.yaml otherwise) and reads each metrics.json. From the results
bags it adds the mean angle between each matched joint's fitted and true ray from the camera
(the direction the camera saw the joint in: what a pinhole fit of a distorted image gets
wrong, whatever the depth). End to end, detection and tracking differ between the two
images; to see the fit alone, every --box-every-th frame is also fitted with each true
person's box given (the box around its true keypoints in that image, 10% margin), through
the node's pipeline, both ways. Also the time to undistort a frame. Writes
bench/results/distortion.json, distortion.md and distortion.png.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import RESULTS, environment  # noqa: E402

# A wide-angle webcam's barrel distortion (k1 k2 p1 p2 k3).
PLUMB_BOB = (-0.30, 0.09, 0.0005, -0.0005, -0.01)
FOCAL = (0.6, 0.7)  # x image width
CONDITIONS = {"undistorted (undistort=true)": "true", "as pinhole (undistort=false)": "false"}
FIGURES = [("mpjpe_mm", "MPJPE (mm)", 1.0), ("pa_mpjpe_mm", "PA-MPJPE (mm)", 1.0),
           ("pck2d_0.1", "2D PCK@0.1 (%)", 100.0), ("pck3d_150mm", "PCK@150mm (%)", 100.0),
           ("ray_angle_deg", "joint ray angle (deg)", 1.0),
           ("recall", "people found (%)", 100.0)]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=8, help="frames per bag (default 8)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3201, 3202],
                        help="sequence seeds, one bag each (default 3201 3202)")
    parser.add_argument("--box-every", type=int, default=4,
                        help="fit every N-th frame with the true boxes too (default 4)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/nbf_distortion"),
                        help="folder of the bag and the eval outputs (made new)")
    return parser.parse_args()


def make_bag(path: Path, frames: int, seed: int) -> None:
    """The distorted synthetic bag."""
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.sequences import SequenceConfig, write_sequence_bag

    seq = SequenceConfig(frames=frames, distortion=("plumb_bob", PLUMB_BOB))
    seq = replace(seq, scene=replace(seq.scene, focal=FOCAL))
    write_sequence_bag(path, BodyMesh.default(), seed, seq, progress=False)


def _angles(joints: np.ndarray, truth: np.ndarray) -> np.ndarray:  # [J] degrees
    """Angles between fitted and true joints' rays from the camera."""
    cos = (joints * truth).sum(1) / np.linalg.norm(joints, axis=1) / np.linalg.norm(truth, axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def ray_angles(bag: Path, results: Path) -> np.ndarray:
    """Angles (degrees) between matched people's fitted and true joint rays."""
    from nbf_ros.eval.frame_eval import match_people
    from nbf_ros.io.bag_reader import read_messages
    from nbf_ros.io.convert import estimates_from_message, stamp_to_ns

    truth = {stamp_to_ns(m.header.stamp): estimates_from_message(m)
             for _, m in read_messages(bag, "/ground_truth/humans")}
    angles = []
    for _, msg in read_messages(results, "/humans/poses"):
        people = truth.get(stamp_to_ns(msg.header.stamp), [])
        estimates = estimates_from_message(msg)
        for e, t in match_people(estimates, people):
            angles.extend(_angles(np.asarray(estimates[e].joints),
                                  np.asarray(people[t].joints)).tolist())
    return np.array(angles)


def lens_shifts() -> dict[str, float]:
    """How far the lens moves the pinhole image's corner and a point halfway to it, pixels
    (640 x 480 at the mean focal length)."""
    from nbf_ros.io.undistort import distort_pixels

    f = 640 * sum(FOCAL) / 2
    K = np.array([[f, 0.0, 320.0], [0.0, f, 240.0], [0.0, 0.0, 1.0]])
    points = np.array([[0.0, 0.0], [160.0, 120.0]])
    shift = np.linalg.norm(distort_pixels(points, K, "plumb_bob", PLUMB_BOB) - points, axis=1)
    return {"corner_shift_px": float(shift[0]), "half_shift_px": float(shift[1])}


def undistort_ms(bag: Path) -> float:
    """Shortest of 20 times to undistort one of the bag's frames (the map made beforehand;
    the shortest, as other jobs share the machine)."""
    from nbf_ros.io.bag_reader import read_frames

    with read_frames(bag) as frames:
        frame = next(iter(frames))
    frame.lens.rectify(frame.rgb)  # builds and caches the map
    times = []
    for _ in range(20):
        tic = time.perf_counter()
        frame.lens.rectify(frame.rgb)
        times.append(time.perf_counter() - tic)
    return float(np.min(times) * 1e3)


def run_eval(bags: list[Path], out: Path, undistort: str
             ) -> tuple[list[str], dict[str, Any]]:
    """The eval command and its figures over the bags."""
    command = ["nbf-ros", "eval", *map(str, bags), "--out", str(out), "--param",
               f"undistort={undistort}", "--quiet"]
    subprocess.run([sys.executable, "-m", "nbf_ros.cli", *command[1:]], check=True,
                   stdout=subprocess.DEVNULL)
    figures = json.loads((out / "metrics.json").read_text())["all"]
    metrics = {k: v for k, v in figures.items() if not isinstance(v, (dict, list))}
    angles = [ray_angles(bag, out / bag.name / "results") for bag in bags]
    metrics["ray_angle_deg"] = float(np.mean(np.concatenate(angles))) if angles else None
    return command, metrics


def given_boxes(bags: list[Path], every: int) -> dict[str, dict[str, float]]:
    """Fits with each true person's box given, through the undistorted image and as a
    pinhole image: median 2D error (px, raw image), joint ray angle (deg), MPJPE (mm)."""
    from nbf_ros.io.bag_reader import read_frames
    from nbf_ros.node_settings import build_pipeline, default_settings

    pipeline, _ = build_pipeline(default_settings())
    rows: dict[str, list[list[float]]] = {name: [] for name in CONDITIONS}
    for bag in bags:
        with read_frames(bag) as reader:
            frames = [f for i, f in enumerate(reader) if i % every == 0]
        for frame in frames:
            lens, truth = frame.lens, frame.truth or []
            if not truth:
                continue
            raw_points = [t.keypoints_2d for t in truth]
            pinhole_points = [lens.to_rectified(p) for p in raw_points]
            fits = {
                "undistorted (undistort=true)": pipeline.estimate(
                    lens.rectify(frame.rgb), lens.camera, boxes=_boxes(pinhole_points)),
                "as pinhole (undistort=false)": pipeline.estimate(
                    frame.rgb, frame.K, boxes=_boxes(raw_points)),
            }
            lens.to_raw(fits["undistorted (undistort=true)"])
            for name, people in fits.items():
                for fit, true in zip(people, truth, strict=True):
                    rows[name].append(_errors(fit, true))
    return {name: {"people": len(r), **dict(zip(("error_2d_px", "ray_angle_deg", "mpjpe_mm"),
                                                 np.mean(r, axis=0).tolist(), strict=True))}
            for name, r in rows.items()}


def _boxes(points: list[np.ndarray]) -> np.ndarray:  # [N, 4]
    """Boxes around keypoints [J, 2] with a 10% margin of their height."""
    out = []
    for p in points:
        lo, hi = np.nanmin(p, 0), np.nanmax(p, 0)
        margin = 0.1 * (hi[1] - lo[1])
        out.append(np.concatenate((lo - margin, hi + margin)))
    return np.stack(out)


def _errors(fit: Any, true: Any) -> list[float]:
    """Median 2D error (px), mean joint ray angle (deg), pelvis-aligned MPJPE (mm)."""
    joints, truth = np.asarray(fit.joints), np.asarray(true.joints)
    error_2d = np.median(np.linalg.norm(fit.keypoints_2d - true.keypoints_2d, axis=1))
    aligned = (joints - joints[:1]) - (truth - truth[:1])
    return [float(error_2d), float(_angles(joints, truth).mean()),
            float(np.linalg.norm(aligned, axis=1).mean() * 1000)]


BOX_FIGURES = [("error_2d_px", "median 2D error (px)"), ("ray_angle_deg", "joint ray angle (deg)"),
               ("mpjpe_mm", "MPJPE (mm)")]


def markdown(entry: dict[str, Any]) -> str:
    """The results as a Markdown page."""
    env = entry["environment"]
    rows = ["| condition | " + " | ".join(label for _, label, _ in FIGURES) + " |",
            "|---|" + "---|" * len(FIGURES)]
    for name, metrics in entry["conditions"].items():
        cells = [f"{metrics[key] * scale:.1f}" if metrics.get(key) is not None else "n/a"
                 for key, _, scale in FIGURES]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    boxes = ["| condition | people | " + " | ".join(label for _, label in BOX_FIGURES) + " |",
             "|---|---|" + "---|" * len(BOX_FIGURES)]
    for name, metrics in entry["given_boxes"].items():
        boxes.append(f"| {name} | {metrics['people']} | "
                     + " | ".join(f"{metrics[key]:.2f}" for key, _ in BOX_FIGURES) + " |")
    commands = "\n".join(f"    {' '.join(c)}" for c in entry["commands"])
    return (
        f"# Lens distortion: undistorted against as-pinhole ({env['date']}, {env['device']})\n\n"
        f"Made by `{entry['command']}`: {len(entry['seeds'])} synthetic bags of "
        f"{entry['frames']} frames (seeds {', '.join(map(str, entry['seeds']))}; 640 x 480, "
        f"focal {FOCAL[0]}-{FOCAL[1]} x width, walking people with occluders) recorded "
        f"through a plumb_bob lens D = {list(PLUMB_BOB)} (written into camera_info; at the "
        f"mean focal length the pinhole image's corners land {entry['corner_shift_px']:.0f} px "
        f"inward in the raw frame, a point halfway to a corner {entry['half_shift_px']:.0f} "
        "px). The synthetic raw frame's border, which sees past the pinhole rendering, repeats "
        "the rendering's edge pixels.\n\n"
        "## End to end: `nbf-ros eval`\n\n"
        f"{commands}\n\n"
        "(offline, config/pose.yaml otherwise). MPJPE is pelvis-aligned; 2D PCK on the raw "
        "image (keypoints of the undistorted fit are mapped back through the lens); joint "
        "ray angle: the mean angle between each matched joint's fitted and true direction "
        "from the camera.\n\n"
        + "\n".join(rows) + "\n\n"
        f"## The fit alone: true boxes given (every {entry['box_every']}th frame)\n\n"
        "Each true person's box (around its true keypoints in the image fitted, 10% margin) "
        "given to the node's pipeline, so both conditions fit the same people from the same "
        "start; 2D error on the raw image.\n\n"
        + "\n".join(boxes) + "\n\n"
        f"Undistorting a 640 x 480 frame (map cached per camera_info): "
        f"{entry['undistort_ms']:.1f} ms (the shortest of 20 runs on this shared machine).\n\n"
        "Plot: distortion.png.\n")


def plot(entry: dict[str, Any], path: Path) -> None:
    """Bars of the figures, one colour per condition: end to end, then given boxes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("eval: " + label, entry["conditions"], key, scale)
              for key, label, scale in FIGURES]
    panels += [("given boxes: " + label, entry["given_boxes"], key, 1.0)
               for key, label in BOX_FIGURES]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.2))
    for ax, (label, table, key, scale) in zip(axes, panels, strict=True):
        names = list(table)
        ax.bar(range(len(names)), [(table[n].get(key) or 0.0) * scale for n in names],
               color=["tab:blue", "tab:orange"])
        ax.set_xticks(range(len(names)), [n.split(" (")[0] for n in names], fontsize=7)
        ax.set_title(label, fontsize=8)
    fig.suptitle("plumb_bob lens: fitted through the undistorted frame (blue) vs as a "
                 "pinhole frame (orange)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> int:
    """Make the bags, evaluate both conditions and write the results."""
    import torch

    args = _arguments()
    if args.work.exists():
        raise SystemExit(f"{args.work} exists; pick a new --work folder")
    bags = [args.work / f"distorted_{seed}_{args.frames}f" for seed in args.seeds]
    tic = time.perf_counter()
    for bag, seed in zip(bags, args.seeds, strict=True):
        make_bag(bag, args.frames, seed)
    print(f"bags written in {time.perf_counter() - tic:.0f} s", flush=True)
    commands, conditions = [], {}
    for name, flag in CONDITIONS.items():
        tic = time.perf_counter()
        command, metrics = run_eval(bags, args.work / f"eval_undistort_{flag}", flag)
        commands.append(command)
        conditions[name] = metrics
        print(f"{name}: {time.perf_counter() - tic:.0f} s", flush=True)
    tic = time.perf_counter()
    boxes = given_boxes(bags, args.box_every)
    print(f"given boxes: {time.perf_counter() - tic:.0f} s", flush=True)
    entry = {"environment": environment(torch.device("cpu")), "frames": args.frames,
             "seeds": args.seeds, "box_every": args.box_every, "plumb_bob": list(PLUMB_BOB),
             "focal": list(FOCAL),
             "command": " ".join(["python", "bench/distortion.py", "--frames",
                                  str(args.frames), "--seeds", *map(str, args.seeds),
                                  "--box-every", str(args.box_every)]),
             "commands": commands, "conditions": conditions, "given_boxes": boxes,
             "undistort_ms": undistort_ms(bags[0]), **lens_shifts()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "distortion.json").write_text(json.dumps(entry, indent=1) + "\n")
    (RESULTS / "distortion.md").write_text(markdown(entry))
    plot(entry, RESULTS / "distortion.png")
    print(markdown(entry))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
