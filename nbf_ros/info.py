"""`nbf-ros info`: what this installation runs with (versions, ROS, messages, CUDA, models)."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import nbf_ros
from nbf_ros import paths


@dataclass(frozen=True)
class Item:
    """One line of the report: whether the thing is available, and the details."""

    ok: bool
    detail: str


def _failure(exc: BaseException) -> str:
    """Short reason of an import failure, without a traceback."""
    return f"not importable ({type(exc).__name__}: {exc})"


def _module(name: str) -> Item:
    """Version and location of an importable module."""
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # a broken install can raise more than ImportError (OSError)
        return Item(False, _failure(exc))
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "version unknown"
    return Item(True, f"{version} ({Path(module.__file__ or '').parent})")


def _cuda() -> Item:
    """Whether torch sees a CUDA device, and which."""
    try:
        import torch
    except Exception as exc:
        return Item(False, _failure(exc))
    if torch.version.cuda is None:
        return Item(False, "not available (this torch is a CPU-only build)")
    if not torch.cuda.is_available():
        return Item(False, f"not available (torch built for CUDA {torch.version.cuda}, no device)")
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return Item(True, f"CUDA {torch.version.cuda}: {', '.join(names)}")


def _rmw() -> Item:
    """The RMW (DDS) implementation rclpy uses."""
    # info is a diagnostic and only *probes* rclpy; the pipeline itself stays ROS-free
    # (only nbf_ros/ros/ depends on rclpy).
    try:
        from rclpy.utilities import get_rmw_implementation_identifier
    except Exception as exc:
        return Item(False, _failure(exc))
    return Item(True, get_rmw_implementation_identifier())


def _ros_distro() -> Item:
    """ROS_DISTRO as set by a ROS setup file; the PyPI wheels set none."""
    distro = os.environ.get("ROS_DISTRO")
    if distro:
        return Item(True, distro)
    return Item(False, "ROS_DISTRO unset (no ROS setup file sourced; PyPI ros-* wheels are Kilted)")


def _messages() -> Item:
    """Whether the generated nbf_ros messages import, and from where."""
    try:
        from nbf_ros.msg import HumanPose, HumanPoseArray
    except Exception as exc:
        hint = "build them: scripts/setup_env.sh, or colcon build and source install/setup.bash"
        return Item(False, f"{_failure(exc)}; {hint}")
    where = Path(sys.modules[HumanPose.__module__].__file__ or "").parent
    return Item(True, f"{HumanPose.__name__}, {HumanPoseArray.__name__} ({where})")


def _models() -> Item:
    """The models/ folders searched for weights, in search order."""
    folders = paths.model_dirs()
    if not folders:
        return Item(False, "no models/ folder found")
    return Item(True, ", ".join(str(folder) for folder in folders))


def collect() -> dict[str, Item]:
    """The whole report, in display order."""
    package_dir = Path(nbf_ros.__file__ or "").parent
    return {
        "nbf_ros": Item(True, f"{nbf_ros.__version__} ({package_dir})"),
        "python": Item(True, f"{platform.python_version()} ({sys.executable})"),
        "numpy": _module("numpy"),
        "torch": _module("torch"),
        "cuda": _cuda(),
        "rclpy": _module("rclpy"),
        "ros_distro": _ros_distro(),
        "rmw": _rmw(),
        "messages": _messages(),
        "models": _models(),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `nbf-ros info`."""
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of aligned lines"
    )


def run(args: argparse.Namespace) -> int:
    """Print the report; always exit 0, since a missing optional part is not an error."""
    report = collect()
    if args.json:
        print(json.dumps({name: asdict(item) for name, item in report.items()}, indent=2))
        return 0
    width = max(len(name) for name in report)
    for name, item in report.items():
        print(f"{name:<{width}}  {item.detail}")
    return 0
