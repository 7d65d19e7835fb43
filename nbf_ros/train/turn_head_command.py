"""`nbf-ros turn-head`: train a model file's turn head (its network frozen), optionally tune it
with its own copy of the network, and store it."""

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
    from nbf_ros.train.turn_head import TUNE_SEED, TURN_SEED

    parser.add_argument("--model", default="nbf_anny_net.pt",
                        help="model file (a path, or a name in models/; default the shipped one)")
    parser.add_argument("--out", type=Path,
                        help="write a copy of the model file with the head here (default: store "
                             "the head in the model file itself)")
    parser.add_argument("--scenes", type=int, default=12_000,
                        help="synthetic people to fit the head to, network frozen (default "
                             "12000: about 25 min on 2 CPU cores; 0 keeps the file's head)")
    parser.add_argument("--views", type=int, default=4,
                        help="occluded views of each person besides the clean one (default 4)")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the samples")
    parser.add_argument("--seed", type=int, default=TURN_SEED,
                        help=f"first scene seed (default {TURN_SEED})")
    parser.add_argument("--tune-scenes", type=int, default=0,
                        help="then tune the head with its own copy of the network, end to end, "
                             "on this many new people (default 0: no tuning; 12000 take about "
                             "35 min on 2 CPU cores)")
    parser.add_argument("--tune-lr", type=float, default=3e-4,
                        help="peak learning rate of the tuning (default 3e-4)")
    parser.add_argument("--tune-seed", type=int, default=TUNE_SEED,
                        help=f"first scene seed of the tuning (default {TUNE_SEED})")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Fit the head (or keep the file's), tune it if asked, store it; prints how it reads
    held-out people."""
    from nbf_ros.node_settings import build_pipeline, default_settings
    from nbf_ros.train.turn_head import (
        fit_turn_head,
        report_lines,
        tune_turn_head,
        turn_samples,
    )
    from nbf_ros.vision.weights import resolve_model_path, save_turn_head, turn_head_meta

    if not (args.scenes == 0 or args.scenes >= 10) or args.views < 0 or args.epochs < 1:
        raise UsageError("--scenes must be 0 (keep the file's head) or at least 10, --views "
                         "at least 0, --epochs at least 1")
    if not (args.tune_scenes == 0 or args.tune_scenes >= 10) or args.tune_lr <= 0:
        raise UsageError("--tune-scenes must be 0 (no tuning) or at least 10, and --tune-lr "
                         "positive")
    if args.scenes == 0 and args.tune_scenes == 0:
        raise UsageError("nothing to do: --scenes 0 keeps the file's head, so name "
                         "--tune-scenes")
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
    progress = not args.quiet
    if args.scenes == 0:
        head, meta = pipeline.turn_head, turn_head_meta(model)
        if head is None:
            raise UsageError(f"{model} has no turn head to keep: fit one with --scenes")
        if head.network is not None:
            raise UsageError(f"{model}'s turn head is tuned already: fit a new one with "
                             "--scenes to tune again")
    else:
        started = time.perf_counter()
        samples = turn_samples(pipeline, args.seed, args.scenes, args.views, progress)
        head, report = fit_turn_head(samples, args.epochs, progress=progress)
        minutes = (time.perf_counter() - started) / 60
        meta = {"date": datetime.date.today().isoformat(), "seed": args.seed,
                "scenes": args.scenes, "views": args.views, "epochs": args.epochs,
                "samples": len(samples.azimuth), "device": str(pipeline.device),
                "minutes": round(minutes, 1), "report": dataclasses.asdict(report)}
        print(f"turn head fitted ({len(samples.azimuth)} crops of {args.scenes} people, "
              f"{minutes:.1f} min)")
        for line in report_lines(report):
            print("  " + line)
    if args.tune_scenes:
        started = time.perf_counter()
        head, before, after = tune_turn_head(pipeline, pipeline.engine.net,
                                             head.to(pipeline.device),
                                             args.tune_seed, args.tune_scenes, args.views,
                                             args.tune_lr, progress=progress)
        minutes = (time.perf_counter() - started) / 60
        meta["tuning"] = {"date": datetime.date.today().isoformat(), "seed": args.tune_seed,
                          "scenes": args.tune_scenes, "views": args.views, "lr": args.tune_lr,
                          "device": str(pipeline.device), "minutes": round(minutes, 1),
                          "before": dataclasses.asdict(before),
                          "after": dataclasses.asdict(after)}
        print(f"turn head tuned with its own network ({args.tune_scenes} people, "
              f"{minutes:.1f} min); on the held-out tenth, before and after:")
        for line in report_lines(before) + report_lines(after):
            print("  " + line)
    save_turn_head(model, head, meta)
    print(f"turn head stored in {model}")
    return 0
