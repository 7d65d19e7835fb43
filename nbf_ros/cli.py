"""The `nbf-ros` command line: one verb per offline tool, each in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nbf_ros import __version__

# verb -> (module, one-line help). A verb module defines `add_arguments(parser)` and
# `run(args) -> int`; it is imported only when its verb is used, so `nbf-ros info` does not
# pay for importing a training stack. Adding a verb is one line here.
VERBS: dict[str, tuple[str, str]] = {
    "info": ("nbf_ros.info", "print versions, ROS and message status, CUDA and model folders"),
    "synth": ("nbf_ros.synth.command", "write synthetic scenes (dataset) or a synthetic video bag"),
    "train": ("nbf_ros.train.command", "train the feature network from a YAML config"),
    "turn-head": ("nbf_ros.train.turn_head_command", "train a model file's turn head (which "
                  "way people face, for the choice among a cold fit's turned starts)"),
    "eval": ("nbf_ros.eval.command", "evaluate the pose node on bags: accuracy against ground "
             "truth, latency (offline or live)"),
    "bench": ("nbf_ros.eval.speed", "measure per-stage latency and frame rate of the pipeline "
              "(speed table)"),
    "demo": ("nbf_ros.replay.command", "run the pose node on a synthetic bag played live; "
             "summary and picture"),
    "export": ("nbf_ros.vision.export_command", "export the feature network to ONNX (and a "
               "TensorRT engine where TensorRT is installed); --check compares with torch"),
}


class UsageError(Exception):
    """A mistake in how the command was called: reported as one line, exit status 2."""


def build_parser(verb: str | None) -> argparse.ArgumentParser:
    """Parser for all verbs, with the full arguments of `verb` (others only list their help)."""
    parser = argparse.ArgumentParser(
        prog="nbf-ros",
        description="Offline tools of nbf_ros (3D-aware Neural Body Fitting for ROS 2).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, (module_name, help_text) in VERBS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == verb:
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def _requested_verb(argv: Sequence[str]) -> str | None:
    """First non-option word, if it names a verb (argparse reports everything else)."""
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    return word if word in VERBS else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; exit status 0 on success, 2 on a usage error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = _requested_verb(argv)
    parser = build_parser(verb)
    args = parser.parse_args(argv)  # exits 2 with a message on bad arguments
    module = importlib.import_module(VERBS[args.verb][0])
    try:
        return int(module.run(args))
    except UsageError as exc:
        parser.exit(2, f"nbf-ros {args.verb}: error: {exc}\n")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Through the imported module, so verbs raise the same UsageError class that main()
    # catches (under `python -m` this file is also `__main__`, a second copy).
    from nbf_ros.cli import main as _main

    sys.exit(_main())
