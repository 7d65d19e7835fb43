"""Ranges of motion of the body joints, and the fit's penalty for knees and elbows that
bend the wrong way.

Synthetic people are posed inside these ranges (nbf_ros.synth.poses). The fit uses the
hinges only: a knee or elbow bent backwards or sideways is the classic wrong answer of a
monocular fit, a limb mirrored in depth that projects onto the same pixels (Sminchisescu and
Triggs, CVPR 2001), and SMPLify (Bogo et al., ECCV 2016) penalises the same bends. The
other ranges below are rough and scaled for training data, so they do not constrain a fit of
real people.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nbf_ros.body.compact import CompactBody

__all__ = ["HINGE_CHILD", "HINGE_SIGN", "JOINT_LIMITS_DEG", "HingeLimits", "hinge_frame"]

# Largest rotation of each joint (degrees) about any axis; hinges: (min, max) flexion.
JOINT_LIMITS_DEG: dict[str, float | tuple[float, float]] = {
    "left_hip": 50.0, "right_hip": 50.0, "spine1": 20.0, "spine2": 15.0, "spine3": 15.0,
    "left_knee": (0.0, 130.0), "right_knee": (0.0, 130.0),
    "left_ankle": 25.0, "right_ankle": 25.0, "neck": 25.0, "head": 30.0,
    "left_collar": 12.0, "right_collar": 12.0, "left_shoulder": 75.0, "right_shoulder": 75.0,
    "left_elbow": (0.0, 140.0), "right_elbow": (0.0, 140.0),
    "left_wrist": 40.0, "right_wrist": 40.0,
}
# The joint at the end of each hinge's bone.
HINGE_CHILD = {"left_knee": "left_ankle", "right_knee": "right_ankle",
               "left_elbow": "left_wrist", "right_elbow": "right_wrist"}
# Knees bend the shin backwards, elbows the forearm forwards.
HINGE_SIGN = {"left_knee": -1.0, "right_knee": -1.0, "left_elbow": 1.0, "right_elbow": 1.0}

_FRONT = (0.0, 0.0, 1.0)  # canonical body frame: +Y up, +Z front


def hinge_frame(rest_joints: Tensor, names: tuple[str, ...],
                hinge: str) -> tuple[Tensor, Tensor]:
    """Unit bone direction and flexion axis [3] of a hinge in the rest pose: turning the bone
    about the axis by a positive angle is the anatomical bend."""
    j = names.index(hinge)
    bone = F.normalize(rest_joints[names.index(HINGE_CHILD[hinge])] - rest_joints[j], dim=0)
    front = rest_joints.new_tensor(_FRONT)
    # Turning a bone about (bone x front) by a positive angle moves it to the front.
    axis = F.normalize(torch.linalg.cross(bone, front), dim=0) * HINGE_SIGN[hinge]
    return bone, axis


class HingeLimits(nn.Module):
    """Penalty [B] of local rotations [B, J, 3, 3] whose knees or elbows bend sideways,
    backwards, or further than their range: 0 inside the range, growing quadratically."""

    def __init__(self, body: CompactBody) -> None:
        super().__init__()
        names = body.joint_names
        hinges = [h for h in HINGE_CHILD if h in names and HINGE_CHILD[h] in names]
        rest = body.mean_rest()[1]
        frames = [hinge_frame(rest, names, h) for h in hinges]
        bone = torch.stack([b for b, _ in frames]) if frames else rest.new_zeros(0, 3)
        axis = torch.stack([a for _, a in frames]) if frames else rest.new_zeros(0, 3)
        most = [JOINT_LIMITS_DEG[h][1] for h in hinges]  # type: ignore[index]
        self.register_buffer("index", torch.tensor([names.index(h) for h in hinges],
                                                   dtype=torch.long, device=rest.device))
        self.register_buffer("bone", bone)
        self.register_buffer("axis", axis)
        # The bone turned by the anatomical bend goes towards axis x bone.
        self.register_buffer("bend", torch.linalg.cross(axis, bone))
        self.register_buffer("cos_most", torch.cos(torch.deg2rad(rest.new_tensor(most))))

    def forward(self, rotations: Tensor) -> Tensor:  # [B, J, 3, 3] -> [B]
        """Sum over hinges of the squared sideways, backward and over-range bends."""
        turned = (rotations[:, self.index] @ self.bone[..., None])[..., 0]  # [B, H, 3]
        # A twist about the bone moves no joint (forearm pronation sits at the elbow in
        # SMPL-like bodies), so only where the bone points is constrained.
        sideways = (turned * self.axis).sum(-1)
        forward = (turned * self.bend).sum(-1)
        along = (turned * self.bone).sum(-1)
        over = F.relu(self.cos_most - along)
        return (sideways.square() + F.relu(-forward).square() + over.square()).sum(-1)
