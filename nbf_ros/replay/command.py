"""`nbf-ros demo`: the pose node on a synthetic bag, played live; a summary and a picture."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from nbf_ros.cli import UsageError
from nbf_ros.io.depth_image import DEPTH_TOPIC

__all__ = ["DEMO_PARAMS", "add_arguments", "node_parameters", "run"]

# What the demo changes from config/pose.yaml: the debug image for its picture, and a fitting
# time budget so that a CPU-only machine answers a few frames a second instead of one every
# second or two (bench/results/node_cpu.md measures both). --param overrides these too.
DEMO_PARAMS = {"publish_debug_image": True, "fit_time_budget_ms": 100.0}
# With --depth: the node fits to the bag's registered depth too.
DEPTH_PARAMS = {"use_depth": True}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the demo verb."""
    parser.add_argument("--out", type=Path,
                        help="results folder, new or empty (default: a new "
                             "demo_output/<date>_<time> folder, so runs never collide)")
    parser.add_argument("--bag", type=Path,
                        help="play this bag (with /camera/image_raw and /camera/camera_info) "
                             "instead of a generated synthetic one")
    parser.add_argument("--frames", type=int, default=60,
                        help="frames of the generated bag (default 60)")
    parser.add_argument("--fps", type=float, default=15.0,
                        help="frame rate of the generated bag (default 15)")
    parser.add_argument("--seed", type=int, default=7, help="synthetic sequence seed")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed (default 1)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="node parameter over config/pose.yaml (YAML value), e.g. "
                             "fit_iterations=40; the demo already sets "
                             + ", ".join(f"{k}={v}" for k, v in DEMO_PARAMS.items()))
    parser.add_argument("--depth", action="store_true",
                        help="RGB-D: the generated bag also holds registered depth with a "
                             "sensor's faults (table, pole or panel in front of the subject), "
                             "which the node fits to (use_depth; doc/depth.md)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def node_parameters(items: list[str], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """config/pose.yaml's parameters, changed by ``base``, then by the --param overrides
    (UsageError if bad)."""
    from nbf_ros.node_settings import default_settings, parse_overrides

    try:
        return dict(default_settings(), **(base or {}), **parse_overrides(items))
    except ValueError as exc:
        raise UsageError(f"--param {exc}") from exc


def run(args: argparse.Namespace) -> int:
    """Generate (or take) a bag, replay it through the node, write and print the results."""
    from nbf_ros.replay.live import ReplayError, live_domain, run_live
    from nbf_ros.replay.summary import markdown, save_picture, summarize

    if args.frames < 1 or not 0 < args.fps <= 120 or not args.rate > 0:
        raise UsageError("--frames must be >= 1, --fps in (0, 120] and --rate positive")
    out: Path = args.out or Path("demo_output") / time.strftime("%Y%m%d_%H%M%S")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not an empty folder; pick another --out")
    params = node_parameters(args.param, dict(DEMO_PARAMS, **DEPTH_PARAMS) if args.depth
                             else DEMO_PARAMS)
    out.mkdir(parents=True, exist_ok=True)
    bag = args.bag
    if bag is None:
        bag = out / "synthetic_bag"
        frames = _synthetic_bag(bag, args)
    else:
        frames = _count_images(bag)
    try:
        _, domain = live_domain()
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(f"demo: replaying {frames} frames of {bag} at {args.rate}x through the pose node "
          f"(separate processes, real DDS on loopback, {domain})", flush=True)
    tic = time.monotonic()
    try:
        live = run_live(bag, out / "replay", params, frames, rate=args.rate,
                        progress=not args.quiet,
                        depth_topic=DEPTH_TOPIC if args.depth else None)
    except ReplayError as exc:
        raise UsageError(str(exc)) from exc
    summary = summarize(live, bag)
    summary["node_parameters"] = params
    summary["replay_seconds"] = time.monotonic() - tic
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    report = markdown(summary, "nbf_ros demo: live replay of a synthetic bag")
    (out / "summary.md").write_text(report)
    png = out / "demo.png"
    save_picture(live, png)
    print(report)
    print(f"demo: wrote {out / 'summary.json'}, {out / 'summary.md'} and {png}")
    return 0


def _synthetic_bag(path: Path, args: argparse.Namespace) -> int:
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.sequences import SequenceConfig, write_sequence_bag

    print(f"demo: rendering a synthetic {args.frames}-frame bag (seed {args.seed})", flush=True)
    config = SequenceConfig(frames=args.frames, fps=args.fps)
    if args.depth:
        from nbf_ros.synth.depth import OCCLUDER_KINDS, DepthSensor

        config = replace(config, occluder_kinds=OCCLUDER_KINDS, depth=DepthSensor())
    return write_sequence_bag(path, BodyMesh.default(), args.seed, config,
                              progress=not args.quiet)


def _count_images(bag: Path) -> int:
    from nbf_ros.io.bag_reader import count_messages, list_topics

    try:
        topics = list_topics(bag)
    except Exception as exc:  # noqa: BLE001 - any unreadable bag is a usage error
        raise UsageError(f"cannot read bag {bag}: {exc}") from exc
    if "/camera/image_raw" not in topics:
        raise UsageError(f"bag {bag} has no /camera/image_raw; topics: {sorted(topics)}")
    return count_messages(bag, "/camera/image_raw")
