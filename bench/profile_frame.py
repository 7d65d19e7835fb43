"""Where a tracked frame's time goes: host time, device time and kernel launches per part.

    python bench/profile_frame.py [--device cuda] [--people 1] [--frames 10]
                                  [--param NAME=VALUE ...]

Runs the node's configuration (config/pose.yaml, with ``--param`` overrides as in
``nbf-ros bench``) on a synthetic 640 x 480 frame, warms it up on tracked frames, then
profiles ``--frames`` more under torch.profiler. Each part of a frame (detection, crops,
network, readout, the fit's set-up, steps and choice of hypothesis, the estimates, the
message) is labelled, so the table shows per frame how long the host spent in it, how
long the device worked for it and how many kernels it launched: on a GPU a part whose host
time is far above its device time is launch-bound.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nbf_ros.eval.speed import SIZES, _frame  # noqa: E402
from nbf_ros.fitting import fitter as fitter_module  # noqa: E402
from nbf_ros.fitting import session as session_module  # noqa: E402
from nbf_ros.io import convert  # noqa: E402
from nbf_ros.node_settings import build_pipeline  # noqa: E402
from nbf_ros.replay.command import node_parameters  # noqa: E402

LAUNCHES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cudaGraphLaunch")
SYNCS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaMemcpyAsync",
         "cudaEventSynchronize")


def _labelled(label: str, fn: Callable) -> Callable:
    """``fn`` run inside a profiler range named ``label``."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with record_function(label):
            return fn(*args, **kwargs)
    return wrapper


def _label_parts(pipeline) -> list[str]:  # noqa: ANN001 - PosePipeline
    """Wrap the pipeline's parts in profiler ranges; their labels."""
    import nbf_ros.pipeline as pipeline_module

    parts = {
        "1 inputs": (pipeline, "_inputs"), "2 detect": (pipeline, "detect"),
        "3 crops": (pipeline, "_crops"), "4 network": (pipeline, "engine"),
        "5 readout": (pipeline_module, "read_crops"), "6 fit (all)": (pipeline.fitter, "fit"),
        "6a fit checks": (fitter_module, "_check_inputs"),
        "6b fit levels": (pipeline.fitter, "_levels"),
        "6b fit levels again": (session_module.FitSession, "next_levels"),
        "6c fit load": (session_module.FitSession, "load"),
        "6d fit steps": (session_module.Stepper, "__call__"),
        "6e fit best": (pipeline.fitter, "_result"),
        "7 estimates": (pipeline, "_estimates"),
        "8 message": (convert, "human_pose_array_message"),
    }
    for label, (owner, name) in parts.items():
        setattr(owner, name, _labelled(label, getattr(owner, name)))
    return list(parts)


def main() -> None:
    """Profile and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--people", type=int, default=1)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    settings = dict(node_parameters(args.param), device=args.device)
    pipeline, _ = build_pipeline(settings)
    cuda = pipeline.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    scene = _frame(args.people, SIZES["640x480"], 42 + args.people)
    boxes = np.stack([p.box for p in scene.people])
    labels = _label_parts(pipeline)
    states = None

    def frame() -> None:
        nonlocal states
        rgb = scene.image.copy()
        image = torch.from_numpy(rgb).to(pipeline.device).permute(2, 0, 1).float() / 255
        pipeline.detect(image)
        starts = ([states.index([j]) for j in range(states.batch)]
                  if states is not None and states.batch == len(boxes) else None)
        humans = pipeline.estimate(rgb, scene.K, boxes=boxes, warm_starts=starts)
        convert.human_pose_array_message(humans, 0, "camera_optical_frame")
        states = pipeline.last_states

    for _ in range(args.warmup):
        frame()
    sync()
    walls = []
    for _ in range(max(args.frames, 30)):
        tic = time.perf_counter()
        frame()
        sync()
        walls.append(time.perf_counter() - tic)
    print(f"{torch.cuda.get_device_name() if cuda else 'CPU'}, settings {args.param}: "
          f"frame {np.median(walls) * 1e3:.2f} ms median (unprofiled, synchronised)")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(args.frames):
            with record_function("0 frame"):
                frame()
        sync()
    averages = prof.key_averages()
    n = args.frames
    print(f"per frame, mean of {n} profiled frames (profiler overhead included); device "
          f"span: from the part's first to its last device work")
    print(f"{'part':<18} {'calls':>6} {'host ms':>8} {'device span ms':>15}")
    for label in ["0 frame"] + labels:
        # Each range is listed twice on CUDA: its host side and its device-side annotation.
        rows = [e for e in averages if e.key == label]
        if not rows:
            continue
        host = max(rows, key=lambda e: e.cpu_time_total)
        span = max(e.device_time_total for e in rows if e is not host) if len(rows) > 1 else 0
        print(f"{label:<18} {host.count / n:>6.1f} {host.cpu_time_total / n / 1e3:>8.2f} "
              f"{span / n / 1e3:>15.2f}")
    events = {e.key: e for e in averages}
    # The labelled ranges' device-side annotations carry device time too: leave them out.
    ranges = {"0 frame", *labels}
    device = sum(e.self_device_time_total for e in averages if e.key not in ranges) / n / 1e3
    print(f"device busy per frame (all kernels' own time): {device:.2f} ms")
    launches = sum(e.count for k, e in events.items() if k in LAUNCHES)
    syncs = {k: events[k].count / n for k in SYNCS if k in events}
    print(f"kernel and graph launches per frame: {launches / n:.0f}; synchronising calls per "
          f"frame: {syncs}")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))


if __name__ == "__main__":
    main()
