"""Rotation conversions used by the body models, the fitter and the messages.

Convention: rotation matrices act on column vectors (``x' = R @ x``); axis-angle vectors
have the rotation angle in radians as their norm; quaternions are ``(x, y, z, w)`` as in
geometry_msgs/Quaternion.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "quaternion_to_matrix",
    "rotation_angle",
]


def _skew(v: Tensor) -> Tensor:  # [..., 3] -> [..., 3, 3]
    """Cross-product matrix of each vector."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack((o, -z, y, z, o, -x, -y, x, o), dim=-1).unflatten(-1, (3, 3))


def axis_angle_to_matrix(aa: Tensor) -> Tensor:  # [..., 3] -> [..., 3, 3]
    """Rotation matrices from axis-angle vectors (Rodrigues), smooth through zero."""
    theta2 = (aa * aa).sum(-1, keepdim=True).unsqueeze(-1)  # [..., 1, 1]
    small = theta2 < 1e-8
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    # Taylor series near zero keep the gradient finite where sin(t)/t is 0/0.
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2_safe)
    k = _skew(aa)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def matrix_to_quaternion(rot: Tensor) -> Tensor:  # [..., 3, 3] -> [..., 4] (x, y, z, w)
    """Unit quaternions (x, y, z, w, with w >= 0) from rotation matrices."""
    m = rot
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # Four candidate formulas; each is well conditioned where its divisor is largest.
    cands = torch.stack(
        (
            torch.stack((m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                         m[..., 1, 0] - m[..., 0, 1], 1.0 + trace), -1),
            torch.stack((1.0 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                         m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0],
                         m[..., 2, 1] - m[..., 1, 2]), -1),
            torch.stack((m[..., 0, 1] + m[..., 1, 0],
                         1.0 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
                         m[..., 1, 2] + m[..., 2, 1], m[..., 0, 2] - m[..., 2, 0]), -1),
            torch.stack((m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                         1.0 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
                         m[..., 1, 0] - m[..., 0, 1]), -1),
        ),
        dim=-2,
    )  # [..., 4, 4]
    keys = torch.stack(
        (trace, m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
         m[..., 1, 1] - m[..., 0, 0] - m[..., 2, 2], m[..., 2, 2] - m[..., 0, 0] - m[..., 1, 1]),
        -1,
    )
    best = keys.argmax(-1, keepdim=True).unsqueeze(-1).expand(*keys.shape[:-1], 1, 4)
    q = torch.gather(cands, -2, best).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., 3:4] < 0, -q, q)


def quaternion_to_matrix(q: Tensor) -> Tensor:  # [..., 4] (x, y, z, w) -> [..., 3, 3]
    """Rotation matrices from (not necessarily unit) quaternions (x, y, z, w)."""
    q = q / q.norm(dim=-1, keepdim=True)
    x, y, z, w = q.unbind(-1)
    return torch.stack(
        (
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ),
        -1,
    ).unflatten(-1, (3, 3))


def matrix_to_axis_angle(rot: Tensor) -> Tensor:  # [..., 3, 3] -> [..., 3]
    """Axis-angle vectors from rotation matrices, through the quaternion (stable near pi)."""
    q = matrix_to_quaternion(rot)
    xyz, w = q[..., :3], q[..., 3:4]
    s = xyz.norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(s, w)
    small = s < 1e-8
    scale = torch.where(small, 2.0 / w.clamp_min(1e-8), angle / torch.where(small, 1.0, s))
    return xyz * scale


def rotation_angle(rot: Tensor) -> Tensor:  # [..., 3, 3] -> [...]
    """Rotation angle in radians of each rotation matrix."""
    cos = ((rot[..., 0, 0] + rot[..., 1, 1] + rot[..., 2, 2]) - 1.0) / 2.0
    return torch.arccos(cos.clamp(-1.0, 1.0))
