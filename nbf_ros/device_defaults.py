"""Settings whose best value depends on the device: one table, read by the pipeline
(``PosePipeline(PipelineConfig())``) and the node's parameters alike, so both run the same
fit on the same machine.

A node parameter that says "per device" (``tracking_iterations: 0``, ``fit_hypotheses: 0``,
``fit_compile: auto``) takes its value from here; any explicit value wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["DEVICE_DEFAULTS", "DeviceDefaults", "compile_choice", "device_defaults"]


@dataclass(frozen=True)
class DeviceDefaults:
    """The fit's settings that are chosen per device kind."""

    tracking_iterations: int  # optimiser steps of a tracked person (warm start)
    compile_step: bool  # torch.compile each fitting step (compiled once at configure)
    model_hypotheses: bool  # a new person's turned starts: the model file's (else one)


DEVICE_DEFAULTS: dict[str, DeviceDefaults] = {
    # NVIDIA H100, 2026-11-26, 640 x 480: 5 compiled warm steps ran at 100 FPS with one
    # person and 52 FPS with 16, where 20 eager ones ran at 8 FPS
    # (bench/results/speed_cuda_torch_compiled_reduced_h100.md, speed_cuda_torch_h100.md);
    # 5 steps instead of 20 cost about 1 mm MPJPE (bench/results/cpu_10fps.md). The turned
    # starts share each step's launches there.
    "cuda": DeviceDefaults(tracking_iterations=5, compile_step=True, model_hypotheses=True),
    # A CPU: compiling costs 25-50 s per padded people count on 2 cores before a frame is
    # served, and each turned start costs a whole fit (eight made a new person's frame 18 s
    # instead of 2.2 s), so the step stays eager with 20 warm steps and one start.
    "cpu": DeviceDefaults(tracking_iterations=20, compile_step=False, model_hypotheses=False),
}


def device_defaults(device: torch.device | str) -> DeviceDefaults:
    """The defaults of ``device``'s kind (any kind without its own row gets the CPU's)."""
    kind = torch.device(device).type
    return DEVICE_DEFAULTS.get(kind, DEVICE_DEFAULTS["cpu"])


def compile_choice(value: bool | str, device: torch.device | str) -> bool:
    """Whether the fitting step is compiled for the parameter value ``value`` (true, false,
    or "auto": the device's default; the strings "true" and "false" as the booleans)."""
    if isinstance(value, bool):
        return value
    if value == "auto":
        return device_defaults(device).compile_step
    if value in ("true", "false"):
        return value == "true"
    raise ValueError(f"fit_compile must be auto, true or false, got {value!r}")
