"""Synthetic recovery experiments of the fitting core: known poses rendered to features,
fitted back from a perturbed start (cold) or from the previous frame (warm start).

The unit tests assert on small runs of these; ``bench/recovery.py`` reports larger ones.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from nbf_ros.eval.metrics import mpjpe, pa_mpjpe
from nbf_ros.fitting.config import FitConfig
from nbf_ros.fitting.fitter import Fitter
from nbf_ros.nbv.camera import CropCamera, pixel_of
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.synth.feature_scenes import feature_scene, perturb, random_states
from nbf_ros.synth.motion import interpolate_states, smooth_motion

__all__ = ["RecoveryRun", "TrackingRun", "joints_under", "recovery_run", "tracking_run"]


@dataclass
class RecoveryRun:
    """Cold fits of B bodies from perturbed starts; errors in metres."""

    start_error: Tensor  # [B] MPJPE of the perturbed start
    error: Tensor  # [B] MPJPE of the fit (root-aligned)
    pa_error: Tensor  # [B] PA-MPJPE of the fit
    iterations: Tensor  # [B]
    under_occluder: Tensor  # [B, J] bool, true joint projects onto the occluder
    visibility: Tensor  # [B, J] fitted joint visibility
    seconds: float  # wall time of the fit


@dataclass
class TrackingRun:
    """Warm-started fits along smooth motions: F frames of B bodies."""

    error: Tensor  # [F, B] MPJPE per frame, metres
    iterations: Tensor  # [F, B] steps taken per frame
    converged: Tensor  # [F, B] bool, stopped by the tolerance before the cap
    seconds: list[float]  # wall time per frame


def joints_under(joints: Tensor, camera: CropCamera, mask: Tensor) -> Tensor:
    """Whether each joint projects onto a masked crop pixel: [B, J, 3], [B, H, W] -> [B, J]."""
    u, v, inside = pixel_of(joints, camera)
    rows = torch.arange(joints.shape[0], device=joints.device)[:, None]
    return mask[rows, v, u] & inside


def _on_cpu(volume: NeuralBodyVolume) -> NeuralBodyVolume:
    """The volume itself if on the CPU, else a CPU copy (scenes are drawn on the CPU so
    that a seed gives the same scene on every device)."""
    return volume if volume.sigma.device.type == "cpu" else copy.deepcopy(volume).cpu()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def recovery_run(
    volume: NeuralBodyVolume,
    config: FitConfig,
    batch: int,
    seed: int,
    occluder: float = 0.0,
    size: int = 80,
    noise: float = 0.5,
    joint_deg: float = 20.0,
    root_deg: float = 10.0,
    root_cm: float = 10.0,
) -> RecoveryRun:
    """Fit random poses back from starts perturbed per joint and at the root."""
    device = volume.sigma.device
    gen = torch.Generator().manual_seed(seed)
    cpu_volume = _on_cpu(volume)
    truth = random_states(cpu_volume, batch, gen)
    scene = feature_scene(cpu_volume, truth, gen, size=size, noise=noise,
                          occluder_fraction=occluder)
    start = perturb(truth, cpu_volume.body.joint_names, gen, joint_deg=joint_deg,
                    root_deg=root_deg, root_cm=root_cm)
    start_joints = cpu_volume.pose(start.rotations, start.translation, start.shape).joints
    fitter = Fitter(volume, config)
    features, camera = scene.features.to(device), scene.camera.to(device)
    _sync(device)
    tic = time.perf_counter()
    result = fitter.fit(features, camera, start.to(device))
    _sync(device)
    seconds = time.perf_counter() - tic
    joints = result.joints.cpu()
    return RecoveryRun(
        start_error=mpjpe(start_joints, scene.joints), error=mpjpe(joints, scene.joints),
        pa_error=pa_mpjpe(joints, scene.joints), iterations=result.iterations.cpu(),
        under_occluder=joints_under(scene.joints, scene.camera, scene.occluder),
        visibility=result.joint_visibility.cpu(), seconds=seconds,
    )


def tracking_run(
    volume: NeuralBodyVolume,
    config: FitConfig,
    batch: int,
    seed: int,
    keyframes: int = 3,
    frames_between: int = 10,
    key_deg: float = 15.0,
    key_cm: float = 5.0,
    size: int = 80,
    noise: float = 0.5,
    predict: bool = True,
) -> TrackingRun:
    """Follow smooth motions frame by frame, each fit starting from the previous result.

    Keyframes differ by ``key_deg`` per joint and ``key_cm`` at the root and are eased
    over ``frames_between`` frames (10 frames: a third of a second at 30 Hz). The first
    frame starts from its true pose, standing in for an earlier converged fit. With
    ``predict`` each start extrapolates the last two results at constant velocity.
    """
    device = volume.sigma.device
    gen = torch.Generator().manual_seed(seed)
    cpu_volume = _on_cpu(volume)
    keys = [random_states(cpu_volume, batch, gen, max_angle=0.4)]
    for _ in range(keyframes - 1):
        keys.append(perturb(keys[-1], cpu_volume.body.joint_names, gen, joint_deg=key_deg,
                            root_deg=key_deg / 3, root_cm=key_cm))
    frames = smooth_motion(keys, frames_between)
    scenes = [feature_scene(cpu_volume, truth, gen, size=size, noise=noise)
              for truth in frames]
    fitter = Fitter(volume, config)
    state = frames[0].to(device)
    previous = None
    errors, steps, converged, seconds = [], [], [], []
    for scene in scenes:
        features, camera = scene.features.to(device), scene.camera.to(device)
        _sync(device)
        tic = time.perf_counter()
        start = (interpolate_states(previous, state, 2.0) if predict and previous is not None
                 else state)
        result = fitter.fit(features, camera, start)
        _sync(device)
        seconds.append(time.perf_counter() - tic)
        previous, state = state, result.state
        errors.append(mpjpe(result.joints.cpu(), scene.joints))
        steps.append(result.iterations.cpu())
        converged.append(result.converged.cpu())
    return TrackingRun(torch.stack(errors), torch.stack(steps), torch.stack(converged), seconds)
