"""`nbf-ros turn-head`: train a model file's turn head (its network frozen) and store it."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import shutil
import time
from pathlib import Path

from nbf_ros.cli import UsageError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the turn-head verb."""
    from nbf_ros.train.turn_head import TURN_SEED

    parser.add_argument("--model", default="nbf_anny_net.pt",
                        help="model file (a path, or a name in models/; default the shipped one)")
    parser.add_argument("--out", type=Path,
                        help="write a copy of the model file with the head here (default: store "
                             "the head in the model file itself)")
    parser.add_argument("--scenes", type=int, default=12_000,
                        help="synthetic people to read (default 12000: about 25 min on 2 CPU "
                             "cores)")
    parser.add_argument("--views", type=int, default=4,
                        help="occluded views of each person besides the clean one (default 4)")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the samples")
    parser.add_argument("--seed", type=int, default=TURN_SEED,
                        help=f"first scene seed (default {TURN_SEED})")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Read the samples, fit the head, store it; prints how it reads held-out people."""
    from nbf_ros.node_settings import build_pipeline, default_settings
    from nbf_ros.train.turn_head import fit_turn_head, report_lines, turn_samples
    from nbf_ros.vision.weights import resolve_model_path, save_turn_head

    if args.scenes < 10 or args.views < 0 or args.epochs < 1:
        raise UsageError("--scenes must be at least 10, --views at least 0, --epochs at least 1")
    try:
        model = resolve_model_path(args.model)
    except FileNotFoundError as err:
        raise UsageError(str(err)) from err
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model, args.out)
        model = args.out
    try:
        # The torch engine: the head must learn the outputs every engine reproduces, and
        # torch is the reference the others are checked against (nbf-ros export --check).
        pipeline, _ = build_pipeline(dict(default_settings(), model=str(model),
                                          device=args.device, engine="torch"))
    except ValueError as err:
        raise UsageError(str(err)) from err
    started = time.perf_counter()
    samples = turn_samples(pipeline, args.seed, args.scenes, args.views,
                           progress=not args.quiet)
    head, report = fit_turn_head(samples, args.epochs, progress=not args.quiet)
    minutes = (time.perf_counter() - started) / 60
    save_turn_head(model, head, {
        "date": datetime.date.today().isoformat(), "seed": args.seed, "scenes": args.scenes,
        "views": args.views, "epochs": args.epochs, "samples": len(samples.azimuth),
        "device": str(pipeline.device), "minutes": round(minutes, 1),
        "report": dataclasses.asdict(report)})
    print(f"turn head stored in {model} ({len(samples.azimuth)} crops of {args.scenes} people, "
          f"{minutes:.1f} min)")
    for line in report_lines(report):
        print("  " + line)
    return 0
