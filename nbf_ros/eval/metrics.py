"""3D pose accuracy metrics (all in the units of the inputs, usually metres)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["mpjpe", "pa_joint_errors", "pa_mpjpe"]


def mpjpe(pred: Tensor, gt: Tensor, root: int | None = 0) -> Tensor:  # [B, J, 3] x2 -> [B]
    """Mean per-joint position error, after aligning the root joint unless root is None."""
    if root is not None:
        pred = pred - pred[:, root : root + 1]
        gt = gt - gt[:, root : root + 1]
    return (pred - gt).norm(dim=-1).mean(-1)


def pa_joint_errors(pred: Tensor, gt: Tensor) -> Tensor:  # [B, J, 3] x2 -> [B, J]
    """Per-joint distance after the best similarity transform of pred onto gt (Procrustes)."""
    mu_p, mu_g = pred.mean(1, keepdim=True), gt.mean(1, keepdim=True)
    p, g = pred - mu_p, gt - mu_g
    u, s, vt = torch.linalg.svd(p.transpose(1, 2) @ g)
    d = torch.sign(torch.linalg.det(u @ vt))  # keep a rotation, not a reflection
    fix = torch.ones_like(s)
    fix[:, -1] = d
    rot = (u * fix[:, None, :]) @ vt  # maps p rows onto g rows: p @ rot
    scale = (s * fix).sum(-1) / p.square().sum((1, 2))
    aligned = scale[:, None, None] * p @ rot + mu_g
    return (aligned - gt).norm(dim=-1)


def pa_mpjpe(pred: Tensor, gt: Tensor) -> Tensor:  # [B, J, 3] x2 -> [B]
    """MPJPE after the best similarity transform of pred onto gt (Procrustes)."""
    return pa_joint_errors(pred, gt).mean(-1)
