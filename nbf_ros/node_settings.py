"""The pose node's parameters without ROS: one table gives each its default, type, range and
description; the pipeline and tracker are made from their values, so the node, the demo and
offline evaluation run the very same configuration.

`config/pose.yaml` lists the same names and defaults (a test keeps them equal). Parameters
marked ``live`` may change while the node is active; the others are read on configure.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Any

import yaml

from nbf_ros.device import resolve_device
from nbf_ros.device_defaults import DEVICE_DEFAULTS, compile_choice, device_defaults
from nbf_ros.fitting.config import MAX_HYPOTHESES
from nbf_ros.fitting.tracking import Tracker, TrackerConfig
from nbf_ros.pipeline import MAX_PEOPLE, PipelineConfig, PosePipeline
from nbf_ros.vision.engines import ENGINE_NAMES
from nbf_ros.vision.frontend.build import DETECTOR_NAMES

__all__ = ["PARAMS", "ParamSpec", "apply_live_settings", "build_pipeline", "check_value",
           "cpu_threads", "default_settings", "parse_overrides"]


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter."""

    name: str
    default: Any
    description: str
    low: float | None = None  # inclusive range of numbers
    high: float | None = None
    choices: tuple[str, ...] = ()  # allowed strings (empty: any)
    live: bool = False  # may change while active
    or_bool: bool = False  # a string parameter that also takes true or false (YAML booleans)


def _yes_no(flag: bool) -> str:
    """A boolean as YAML writes it."""
    return "true" if flag else "false"


# The per-device rows that "0" and "auto" stand for (nbf_ros/device_defaults.py).
_GPU, _CPU = DEVICE_DEFAULTS["cuda"], DEVICE_DEFAULTS["cpu"]

PARAMS: tuple[ParamSpec, ...] = (
    # Model and engine (read on configure).
    ParamSpec("model", "nbf_anny_net.pt",
              "feature network file: a path, or a file name in the package's models/ folder"),
    ParamSpec("engine", "auto",
              "inference engine of the feature network; auto: the first that works of "
              "tensorrt (CUDA only), onnxruntime (CPU only), torch", choices=ENGINE_NAMES),
    ParamSpec("device", "auto", "torch device: auto (CUDA when present), cpu, cuda or cuda:N"),
    ParamSpec("cpu_threads", 0,
              "torch CPU threads per worker (0: all cores, or half of them each when "
              "pipelined on a CPU)", 0, 256),
    ParamSpec("cuda_graphs", True,
              "on CUDA, replay detection, the crops' network and readout, and each fitting "
              "step from captured CUDA graphs (one launch instead of hundreds)"),
    ParamSpec("pipelined", False,
              "two worker threads: the network reads the next frame while the current one "
              "is fitted (more frames per second, each later)"),
    # Input (read on configure).
    ParamSpec("image_transport", "raw",
              "raw: subscribe to sensor_msgs/Image on 'image'; compressed: to "
              "sensor_msgs/CompressedImage on 'image/compressed'", choices=("raw", "compressed")),
    ParamSpec("image_reliability", "best_effort",
              "QoS reliability of the image and camera_info subscriptions (sensor data: "
              "best_effort)", choices=("best_effort", "reliable")),
    ParamSpec("image_queue_depth", 1, "QoS history depth of the image subscription", 1, 100),
    ParamSpec("max_image_pixels", 20_000_000,
              "images with more pixels than this are refused (width x height)", 1, 10**9),
    ParamSpec("undistort", True,
              "undo the lens distortion that camera_info describes (plumb_bob, "
              "rational_polynomial, equidistant) before estimating; off for images already "
              "rectified (image_proc's image_rect)", live=True),
    # Depth (read on configure; issue 31, doc/depth.md).
    ParamSpec("use_depth", False,
              "subscribe to 'depth' (sensor_msgs/Image, 16UC1 mm or 32FC1 m) and fit the body "
              "to it too; frames without usable depth are served from colour alone"),
    ParamSpec("depth_registered", True,
              "the depth is registered to the colour image (same size and intrinsics, e.g. "
              "aligned_depth_to_color); false: read 'depth/camera_info' and resample the "
              "depth onto the colour image"),
    ParamSpec("depth_slop", 0.02,
              "most seconds between a colour frame's stamp and its depth's (approximate-time "
              "pairing)", 0.0, 1.0),
    ParamSpec("depth_timeout", 1.0,
              "seconds without a depth message before the depth stream counts as stopped",
              0.05, 60.0),
    # Front end (read on configure).
    ParamSpec("detector", "auto",
              "who finds people: nanodet (real-trained multi-person detector, models/), "
              "network (the feature network's own centre head) or auto (both, each person "
              "confirmed by the landmarks; nanodet alone without landmarks)",
              choices=DETECTOR_NAMES),
    ParamSpec("landmarks", True,
              "read every person with BlazePose's landmark model (models/): its keypoints "
              "enter the fit, its world landmarks start it, its person score confirms each "
              "person in every frame"),
    # Detection, fitting and tracking (live).
    ParamSpec("landmark_weight", 5.0, "weight of the fit's robust 2D term on the landmarks",
              0.0, 100.0, live=True),
    ParamSpec("detect_every", 5,
              "frames between detector runs while people are followed by their landmarks "
              "(1: every frame)", 1, 1000, live=True),
    ParamSpec("max_people", 8, "most people estimated per frame", 1, MAX_PEOPLE, live=True),
    ParamSpec("detection_threshold", 0.3, "person-centre score needed to report a person",
              0.01, 0.99, live=True),
    ParamSpec("visibility_threshold", 0.5,
              "joint_visibility below this marks a joint JOINT_OCCLUDED", 0.0, 1.0, live=True),
    ParamSpec("fit_iterations", 120, "optimiser steps for a new person (cold start)", 1, 1000,
              live=True),
    ParamSpec("fit_hypotheses", 0,
              "starts per new person, turned evenly about its vertical axis, the best fit "
              "kept (0: the model file's choice on a GPU, 1 on a CPU, where each costs a "
              "fit)", 0, MAX_HYPOTHESES, live=True),
    ParamSpec("tracking_iterations", 0,
              "optimiser steps for a tracked person (warm start from its last frame; 0: per "
              f"device, {_GPU.tracking_iterations} on a GPU, {_CPU.tracking_iterations} on a "
              "CPU)", 0, 1000, live=True),
    ParamSpec("fit_time_budget_ms", 0.0,
              "stop fitting a frame after this many milliseconds (0: no limit)", 0.0, 10_000.0,
              live=True),
    ParamSpec("fit_compile", "auto",
              "torch.compile each fitting step (fewer, fused kernels; people counts are "
              "padded to a power of two, and each new one compiles first: tens of seconds, "
              "one person's on configure). auto: per device, "
              f"{_yes_no(_GPU.compile_step)} on a GPU, {_yes_no(_CPU.compile_step)} on a CPU",
              choices=("auto", "true", "false"), live=True, or_bool=True),
    ParamSpec("warm_start", True, "start tracked people's fits from their previous frame",
              live=True),
    ParamSpec("track_timeout", 2.0, "seconds (image time) before an unseen track ends",
              0.01, 60.0, live=True),
    ParamSpec("track_min_iou", 0.1,
              "box overlap (or half the nearness within track_reach) needed to continue a "
              "track", 0.01, 0.99, live=True),
    ParamSpec("track_reach", 1.0,
              "centre distance, in box heights, within which a box of similar size may "
              "continue a track without overlapping it (0: overlap only)", 0.0, 10.0,
              live=True),
    # Output (live).
    ParamSpec("publish_markers", True, "publish humans/markers for RViz", live=True),
    ParamSpec("publish_mesh", False, "add each person's body mesh to the markers", live=True),
    ParamSpec("publish_debug_image", False,
              "publish humans/debug_image: skeletons and occlusion over the input", live=True),
    ParamSpec("marker_lifetime", 0.5, "seconds before a marker that is not renewed vanishes",
              0.0, 60.0, live=True),
    ParamSpec("diagnostics_period", 1.0, "seconds between /diagnostics reports", 0.1, 60.0),
    ParamSpec("log_throttle", 5.0, "seconds between repeats of one bad-input warning",
              0.0, 3600.0, live=True),
    ParamSpec("autostart", False,
              "configure and activate at start-up (the launch file drives the lifecycle "
              "itself and leaves this off)"),
)


def check_value(spec: ParamSpec, value: Any) -> str | None:
    """Why ``value`` is not acceptable for ``spec`` (None when it is)."""
    expected = type(spec.default)
    if spec.or_bool and isinstance(value, bool):
        return None
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        return f"{spec.name} must be a {expected.__name__}, got {value!r}"
    if spec.choices and value not in spec.choices:
        return f"{spec.name} must be one of {', '.join(spec.choices)}; got {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{spec.name} must be finite, got {value}"
    if spec.low is not None and not isinstance(value, (bool, str)) \
            and not spec.low <= value <= spec.high:
        return f"{spec.name} must be in [{spec.low}, {spec.high}], got {value}"
    return None


def default_settings() -> dict[str, Any]:
    """The shipped config/pose.yaml parameters."""
    from nbf_ros.paths import find_config_file

    with find_config_file("pose.yaml").open() as f:
        return dict(yaml.safe_load(f)["/**"]["ros__parameters"])


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """NAME=VALUE strings (YAML values) as checked parameter values; ValueError with the
    reason for an unknown name or a bad value."""
    specs = {spec.name: spec for spec in PARAMS}
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in specs:
            raise ValueError(f"{item!r}: expected NAME=VALUE with NAME one of "
                             f"{', '.join(sorted(specs))}")
        value = yaml.safe_load(text)
        problem = check_value(specs[name], value)
        if problem:
            raise ValueError(f"{item!r}: {problem}")
        out[name] = float(value) if isinstance(specs[name].default, float) else value
    return out


def cpu_threads(settings: dict[str, Any], cores: int | None = None) -> int | None:
    """Torch CPU threads for ``settings`` (None: leave torch's default, all cores)."""
    if settings["cpu_threads"]:
        return settings["cpu_threads"]
    if settings["pipelined"] and resolve_device(settings["device"]).type == "cpu":
        # Two stages that each spread over every core oversubscribe them: on 2 cores, one
        # person with 5 warm steps ran pipelined at 7.2 FPS with 2 threads per stage and
        # 9.3 FPS with one (bench/results/speed_cpu_pipelined*.md).
        return max(1, (cores or os.cpu_count() or 2) // 2)
    return None


def build_pipeline(settings: dict[str, Any]) -> tuple[PosePipeline, Tracker]:
    """A pipeline (model loaded) and an empty tracker for ``settings``."""
    pipeline = PosePipeline(PipelineConfig(model=settings["model"], device=settings["device"],
                                           engine=settings["engine"],
                                           cuda_graphs=settings["cuda_graphs"],
                                           detector=settings["detector"],
                                           landmarks=settings["landmarks"],
                                           landmark_weight=settings["landmark_weight"]))
    tracker = Tracker()
    apply_live_settings(pipeline, tracker, settings)
    return pipeline, tracker


def default_hypotheses(pipeline: PosePipeline) -> int:
    """Turned starts of a cold fit when fit_hypotheses is 0: the pipeline's own default (the
    model file's on a GPU, one on a CPU), so the node and PosePipeline() agree."""
    return pipeline.default_hypotheses


def apply_live_settings(pipeline: PosePipeline, tracker: Tracker,
                        settings: dict[str, Any]) -> None:
    """Put the settings that may change while running into the pipeline and tracker."""
    cfg = pipeline.config
    cfg.max_people = settings["max_people"]
    cfg.detection_threshold = settings["detection_threshold"]
    cfg.visibility_threshold = settings["visibility_threshold"]
    landmark = {}
    if pipeline.front_end is not None:
        pipeline.front_end.config.detect_every = settings["detect_every"]
        pipeline.front_end.config.max_people = settings["max_people"]
        landmark = {"keypoint_weight": settings["landmark_weight"]}
    budget = settings["fit_time_budget_ms"] or None
    cold = settings["fit_iterations"]
    compiled = compile_choice(settings["fit_compile"], pipeline.device)
    warm = settings["tracking_iterations"] or device_defaults(pipeline.device).tracking_iterations
    pipeline.fit_config = replace(
        pipeline.fit_config, iterations=cold, time_budget_ms=budget, compile_step=compiled,
        root_iterations=min(pipeline.cold_root_iterations, cold),
        hypotheses=settings["fit_hypotheses"] or default_hypotheses(pipeline), **landmark)
    pipeline.tracking_config = replace(pipeline.tracking_config, time_budget_ms=budget,
                                       iterations=warm,
                                       compile_step=compiled, **landmark)
    tracker.config = TrackerConfig(timeout=settings["track_timeout"],
                                   min_iou=settings["track_min_iou"],
                                   reach=settings["track_reach"],
                                   warm_start=settings["warm_start"])
