"""`nbf-ros synth`: write a synthetic dataset (scene files) or a synthetic video bag."""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

from nbf_ros.cli import UsageError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the synth verb."""
    parser.add_argument("out", type=Path, help="output folder (dataset) or bag folder (--bag)")
    parser.add_argument("--count", type=int, default=100,
                        help="scenes of a dataset, or frames of a bag (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="first scene seed / sequence seed")
    parser.add_argument("--size", type=int, nargs=2, metavar=("WIDTH", "HEIGHT"),
                        help="image size (default 128 128 for datasets, 640 480 for bags)")
    parser.add_argument("--people", type=int, default=None,
                        help="most people besides the subject (default 1 for datasets, 2 for "
                             "bags)")
    parser.add_argument("--occluders", type=float, default=None,
                        help="probability of occluders over the subject (0..1)")
    parser.add_argument("--bag", action="store_true",
                        help="write a video rosbag2 (Image, CameraInfo, ground-truth "
                             "HumanPoseArray) instead of scene files")
    parser.add_argument("--fps", type=float, default=15.0, help="bag frame rate (default 15)")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap",
                        help="bag storage (default mcap)")
    parser.add_argument("--compressed", action="store_true", help="bag images as JPEG")
    parser.add_argument("--distortion", nargs="+", metavar=("MODEL", "D"),
                        help="bag images through a lens: plumb_bob, rational_polynomial or "
                             "equidistant and its coefficients D, e.g. --distortion plumb_bob "
                             "-0.25 0.08 0 0 (also written into camera_info)")
    parser.add_argument("--preview", type=int, default=8, metavar="N",
                        help="also write preview.png of the first N scenes of a dataset "
                             "(0: none; default 8)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Render and write; prints where the result went."""
    from nbf_ros.synth.dataset import write_dataset
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.scenes import SceneConfig
    from nbf_ros.synth.sequences import SequenceConfig, write_sequence_bag

    if args.count < 1:
        raise UsageError("--count must be at least 1")
    if not 0 <= args.seed < 2**31:
        raise UsageError("--seed must be in [0, 2**31)")
    if args.out.exists() and (args.bag or not args.out.is_dir()
                              or (args.out / "dataset.json").exists()):
        raise UsageError(f"{args.out} already exists; pick a new output folder")
    if args.bag and not 0.0 < args.fps < float("inf"):
        raise UsageError("--fps must be a positive finite frame rate")
    if args.size is not None and (min(args.size) < 32 or max(args.size) > 4096):
        raise UsageError("--size must be between 32 and 4096 pixels per side")
    if args.people is not None and not 0 <= args.people <= 8:
        raise UsageError("--people must be between 0 and 8")
    if args.preview < 0:
        raise UsageError("--preview must be >= 0")
    if args.occluders is not None and not 0.0 <= args.occluders <= 1.0:
        raise UsageError("--occluders must be a probability in [0, 1]")
    distortion = _distortion(args.distortion) if args.distortion else None
    if distortion is not None and not args.bag:
        raise UsageError("--distortion is for bags (--bag)")
    mesh = BodyMesh.default()
    if args.bag:
        seq = SequenceConfig(frames=args.count, fps=args.fps)
        scene = seq.scene
    else:
        scene = SceneConfig()
    changes: dict = {}
    if args.size is not None:
        changes.update(width=args.size[0], height=args.size[1])
    if args.people is not None:
        changes["extra_people"] = args.people
    if args.occluders is not None:
        changes["occluder_probability"] = args.occluders
    scene = replace(scene, **changes)
    if args.bag:
        frames = write_sequence_bag(args.out, mesh, args.seed,
                                    replace(seq, scene=scene, distortion=distortion),
                                    storage=args.storage, compressed=args.compressed,
                                    progress=not args.quiet)
        print(f"wrote {frames} frames at {args.fps:g} fps to {args.out} ({args.storage})")
    else:
        index = write_dataset(args.out, mesh, args.count, args.seed, scene,
                              progress=not args.quiet)
        print(f"wrote {args.count} scenes to {args.out} (index {index.name})")
        if args.preview > 0:
            from nbf_ros.synth.dataset import load_scene
            from nbf_ros.synth.preview import save_preview

            files = sorted(args.out.glob("scene_*.npz"))[: args.preview]
            save_preview([load_scene(f) for f in files], args.out / "preview.png")
            print(f"preview of {len(files)} scenes: {args.out / 'preview.png'}")
    return 0


def _distortion(values: list[str]) -> tuple[str, tuple[float, ...]]:
    """(model, D) of --distortion MODEL D..., or UsageError with the reason."""
    from nbf_ros.io.undistort import DISTORTION_MODELS

    model, *coefficients = values
    count = DISTORTION_MODELS.get(model)
    if count is None:
        raise UsageError(f"--distortion model must be one of {', '.join(DISTORTION_MODELS)}, "
                         f"got {model!r}")
    try:
        D = tuple(float(v) for v in coefficients)
    except ValueError as exc:
        raise UsageError(f"--distortion coefficients must be numbers: {exc}") from exc
    if not 1 <= len(D) <= count or not all(math.isfinite(v) for v in D):
        raise UsageError(f"--distortion {model} takes 1 to {count} finite coefficients "
                         f"({len(D)} given)")
    return model, D
