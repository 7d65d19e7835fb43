"""Random body poses for synthetic people: joint rotations within rough anatomical limits.

Knees and elbows bend about one hinge axis only, the right way; other joints turn about a
random axis by at most their limit. Limits (nbf_ros.body.joint_limits) are rough ranges of
motion of the human joints (degrees), scaled down by ``activity`` for calmer poses. Pose 0
of every batch may be any pose: these are training samples, not a motion prior.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.body.compact import CompactBody
from nbf_ros.body.joint_limits import JOINT_LIMITS_DEG, hinge_frame
from nbf_ros.body.rotations import axis_angle_to_matrix

__all__ = ["JOINT_LIMITS_DEG", "random_body_pose", "random_root"]


def random_body_pose(body: CompactBody, batch: int, gen: torch.Generator,
                     activity: Tensor | float = 1.0) -> Tensor:  # -> [B, J, 3, 3]
    """Local joint rotations (root identity) within JOINT_LIMITS_DEG times ``activity``."""
    names = body.joint_names
    act = torch.as_tensor(activity, dtype=torch.float32).expand(batch)
    aa = torch.zeros(batch, len(names), 3)
    rest_joints = body.mean_rest()[1].cpu()
    for name, limit in JOINT_LIMITS_DEG.items():
        if name not in names:
            continue
        j = names.index(name)
        if isinstance(limit, tuple):
            _, axis = hinge_frame(rest_joints, names, name)
            lo, hi = (math.radians(v) for v in limit)
            angle = lo + (hi - lo) * torch.rand(batch, generator=gen) ** 1.5 * act
            aa[:, j] = axis * angle[:, None]
        else:
            axis = F.normalize(torch.randn(batch, 3, generator=gen), dim=-1)
            angle = math.radians(limit) * torch.rand(batch, generator=gen) * act
            aa[:, j] = axis * angle[:, None]
    return axis_angle_to_matrix(aa)


def random_root(batch: int, gen: torch.Generator, tilt_deg: float = 15.0,
                yaw_range: float = math.pi) -> Tensor:  # -> [B, 3, 3]
    """Root orientations: upright in the image (body +Y to camera -y), any yaw within
    +-yaw_range, tilted by at most tilt_deg."""
    upright = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0]))  # body front -> camera
    yaw = (2 * torch.rand(batch, generator=gen) - 1) * yaw_range
    turn = axis_angle_to_matrix(torch.stack((torch.zeros(batch), yaw, torch.zeros(batch)), -1))
    tilt_axis = F.normalize(torch.randn(batch, 3, generator=gen) * torch.tensor([1.0, 0.0, 1.0]),
                            dim=-1)
    tilt = axis_angle_to_matrix(tilt_axis * math.radians(tilt_deg)
                                * torch.rand(batch, 1, generator=gen))
    return tilt @ upright @ turn
