"""Smooth synthetic body motion: poses that change a little from frame to frame."""

from __future__ import annotations

import math

import torch

from nbf_ros.body.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from nbf_ros.fitting.state import BodyState

__all__ = ["interpolate_states", "smooth_motion"]


def interpolate_states(a: BodyState, b: BodyState, t: float) -> BodyState:
    """The state a fraction t of the way from a to b (rotations along the geodesic)."""
    rel = matrix_to_axis_angle(a.rotations.transpose(-1, -2) @ b.rotations)
    rot = a.rotations @ axis_angle_to_matrix(rel * t)
    return BodyState(rot, torch.lerp(a.translation, b.translation, t),
                     torch.lerp(a.shape, b.shape, t))


def smooth_motion(keyframes: list[BodyState], frames_between: int) -> list[BodyState]:
    """Frames moving through the keyframes with a smooth (cosine) ease between each pair."""
    out = []
    for a, b in zip(keyframes[:-1], keyframes[1:], strict=True):
        for i in range(frames_between):
            t = 0.5 - 0.5 * math.cos(math.pi * i / frames_between)
            out.append(interpolate_states(a, b, t))
    out.append(keyframes[-1])
    return out
