"""`nbf-ros train`: train the feature network from a YAML config, or resume a run."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from nbf_ros.cli import UsageError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the train verb."""
    parser.add_argument("--config", type=Path, default=Path("config/train.yaml"),
                        help="training YAML (default config/train.yaml)")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last checkpoint")
    parser.add_argument("--init", metavar="MODEL_PATH",
                        help="start a new run from this model file's network and features "
                             "(e.g. models/nbf_anny_net.pt), on scenes it has not seen")
    parser.add_argument("--steps", type=int, help="override the config's steps")
    parser.add_argument("--device", help="override the config's device (auto, cpu, cuda)")
    parser.add_argument("--batch", type=int, help="override the config's batch size")
    parser.add_argument("--workers", type=int, help="override the config's rendering processes")
    parser.add_argument("--minutes", type=float,
                        help="stop after this many minutes of this session, the learning "
                             "rate decayed by the clock")
    parser.add_argument("--stop-at", type=int, metavar="STEP",
                        help="end this session at this step (the learning-rate schedule "
                             "still runs to --steps; --resume continues exactly)")
    parser.add_argument("--install", type=Path, metavar="MODEL_PATH",
                        help="when done, copy the model file here (e.g. models/nbf_anny_net.pt)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Train; prints the model file and the last logged losses."""
    from nbf_ros.train.config import ConfigError, load_train_config
    from nbf_ros.train.loop import train

    overrides = {k: v for k, v in (("steps", args.steps), ("device", args.device),
                                   ("batch", args.batch), ("workers", args.workers),
                                   ("minutes", args.minutes), ("init", args.init))
                 if v is not None}
    try:
        cfg = load_train_config(args.config, overrides)
        if args.stop_at is not None and args.stop_at < 1:
            raise ConfigError(f"--stop-at must be >= 1, got {args.stop_at}")
        result = train(cfg, args.out, resume=args.resume, progress=not args.quiet,
                       stop_at=args.stop_at)
    except (ConfigError, FileExistsError, FileNotFoundError) as err:
        raise UsageError(str(err)) from err
    except ValueError as err:  # e.g. device cuda without CUDA, mismatched model files
        raise UsageError(str(err)) from err
    print(f"trained {result.steps} steps in {result.seconds / 60:.1f} min; model: "
          f"{result.model_path}")
    print("last losses: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(result.last.items())))
    if args.install is not None:
        args.install.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.model_path, args.install)
        print(f"installed the model as {args.install}")
    return 0
