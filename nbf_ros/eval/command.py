"""`nbf-ros eval BAG...`: accuracy (and, live, latency) of the pose node on recorded bags.

Offline mode runs every frame through the pipeline in order (deterministic, no DDS) and
writes a results bag per input (image, poses, overlay, markers). Live mode plays each bag
at its rate (or --rate) into a fresh node process through real rclpy and records what the
node publishes, so latency, output rate and drops are those a robot would see.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nbf_ros.cli import UsageError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the eval verb."""
    parser.add_argument("bags", type=Path, nargs="+", metavar="BAG",
                        help="rosbag2 folders (MCAP or sqlite3)")
    parser.add_argument("--out", type=Path, required=True,
                        help="results folder (must be new or empty)")
    parser.add_argument("--mode", choices=("offline", "live"), default="offline",
                        help="offline: frame by frame, deterministic; live: played through "
                             "the node at the bag's rate (default offline)")
    parser.add_argument("--image-topic", default="/camera/image_raw",
                        help="image topic (its /compressed twin is found automatically)")
    parser.add_argument("--camera-info-topic", default="/camera/camera_info")
    parser.add_argument("--truth-topic", default="/ground_truth/humans",
                        help="ground truth as nbf_ros/HumanPoseArray (stamped like the images)")
    parser.add_argument("--truth-json", type=Path, action="append", default=[],
                        metavar="FILE", help="ground truth from a JSON sidecar instead (one "
                        "per bag, in bag order; format in nbf_ros/eval/truth_json.py)")
    parser.add_argument("--no-truth", action="store_true",
                        help="bags without ground truth: timing and people counts only")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="node parameter over config/pose.yaml, e.g. fit_iterations=40")
    parser.add_argument("--rate", type=float, default=1.0, help="live playback speed")
    parser.add_argument("--max-frames", type=int, help="offline: stop after this many frames")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Evaluate every bag, then write metrics.json, report.md and plots.png."""
    from nbf_ros.eval.frame_eval import evaluate
    from nbf_ros.eval.report import markdown_report, save_plots
    from nbf_ros.replay.command import node_parameters

    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not an empty folder; pick another --out")
    if not args.rate > 0 or (args.max_frames is not None and args.max_frames < 1):
        raise UsageError("--rate must be positive and --max-frames at least 1")
    for bag in args.bags:
        if not (bag / "metadata.yaml").is_file():
            raise UsageError(f"{bag} is not a rosbag2 folder (no metadata.yaml)")
    if args.truth_json and len(args.truth_json) != len(args.bags):
        raise UsageError(f"{len(args.truth_json)} --truth-json files for {len(args.bags)} "
                         "bags: give one per bag, in the same order")
    settings = node_parameters(args.param)
    truth_topic = None if args.no_truth or args.truth_json else args.truth_topic
    out.mkdir(parents=True, exist_ok=True)
    per_bag: dict[str, dict[str, Any]] = {}
    all_records = []
    for i, bag in enumerate(args.bags):
        records, extra = _evaluate_bag(bag, out / bag.name, settings, truth_topic, args)
        if args.truth_json:
            _attach_truth(records, bag, args.truth_json[i], args.camera_info_topic)
        all_records += records
        per_bag[bag.name] = dict(evaluate(records), **extra)
    merged = evaluate(all_records)
    table = dict(per_bag)
    if len(per_bag) > 1:
        table["all bags"] = merged
    notes = [f"mode: {args.mode}; node parameters: config/pose.yaml"
             + (f" with {', '.join(args.param)}" if args.param else ""),
             "people are paired with the truth by their projected joints (median distance "
             "under half the true box height); 3D errors are root-aligned"]
    (out / "metrics.json").write_text(json.dumps(
        {"mode": args.mode, "parameters": settings, "bags": per_bag, "all": merged},
        indent=1) + "\n")
    report = markdown_report(table, "nbf_ros evaluation", notes)
    (out / "report.md").write_text(report)
    if merged["per_joint_mm"]:
        save_plots(merged, out / "plots.png", f"nbf_ros {args.mode} evaluation of "
                   f"{len(per_bag)} bag(s)")
    print(report)
    print(f"eval: wrote {out / 'metrics.json'}, {out / 'report.md'}"
          + (f" and {out / 'plots.png'}" if merged["per_joint_mm"] else ""))
    return 0


def _attach_truth(records: list, bag: Path, sidecar: Path, camera_info_topic: str) -> None:
    """Give every record the sidecar's people of its stamp (joints without pixels are
    projected with the bag's first CameraInfo)."""
    from nbf_ros.eval.truth_json import TruthFileError, load_truth_json
    from nbf_ros.io.bag_reader import read_messages
    from nbf_ros.io.convert import CameraInfoError, intrinsics_from_camera_info

    K = None
    for _, info in read_messages(bag, camera_info_topic):
        try:
            K = intrinsics_from_camera_info(info)[0]
            break
        except CameraInfoError:
            continue
    try:
        truth = load_truth_json(sidecar, K)
    except TruthFileError as exc:
        raise UsageError(str(exc)) from exc
    for record in records:
        record.truth = truth.get(record.stamp_ns)


def _evaluate_bag(bag: Path, work: Path, settings: dict[str, Any], truth_topic: str | None,
                  args: argparse.Namespace) -> tuple[list, dict[str, Any]]:
    """FrameRecords of one bag and what else its mode measured."""
    from nbf_ros.io.bag_reader import MissingTopicError, count_messages, list_topics

    try:
        topics = list_topics(bag)
    except Exception as exc:  # noqa: BLE001 - an unreadable bag is the user's input
        raise UsageError(f"cannot read bag {bag}: {exc}") from exc
    if args.mode == "offline":
        from nbf_ros.eval.offline import run_offline

        try:
            records, skipped = run_offline(bag, settings, work / "results", args.image_topic,
                                           args.camera_info_topic, truth_topic,
                                           args.max_frames, progress=not args.quiet)
        except (MissingTopicError, ValueError) as exc:
            raise UsageError(str(exc)) from exc
        for record in records:
            record.sequence = bag.name
        return records, {"skipped_images": skipped, "results_bag": str(work / "results")}
    from nbf_ros.replay.live import ReplayError, live_domain, run_live
    from nbf_ros.replay.summary import live_records

    try:
        _, domain = live_domain()
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if not args.quiet:
        print(f"eval: {bag.name} played live on {domain}, this host only", flush=True)

    for topic in (args.image_topic, args.camera_info_topic):
        if topic not in topics:
            raise UsageError(f"topic {topic} not in {bag}; topics: {sorted(topics)}")
    frames = count_messages(bag, args.image_topic)
    try:
        live = run_live(bag, work, settings, frames, rate=args.rate, progress=not args.quiet,
                        image_topic=args.image_topic,
                        camera_info_topic=args.camera_info_topic, record_images=True)
    except ReplayError as exc:
        raise UsageError(str(exc)) from exc
    records = live_records(live, bag, truth_topic)
    return records, {"frames_sent": live.frames_sent,
                     "drop_rate": 1 - len(records) / live.frames_sent
                     if live.frames_sent else None, "results_bag": str(live.outputs)}
