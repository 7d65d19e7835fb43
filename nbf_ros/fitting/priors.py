"""Regularisers of the fit: pose and shape priors and the robust 2D keypoint term."""

from __future__ import annotations

from torch import Tensor

__all__ = ["geman_mcclure", "keypoint_term", "l2_prior", "rest_distance"]


def l2_prior(values: Tensor) -> Tensor:  # [B, ...] -> [B]
    """Sum of squares per batch element (Gaussian prior around zero)."""
    return values.flatten(1).square().sum(-1)


def geman_mcclure(sq_dist: Tensor, scale: float) -> Tensor:
    """Robust penalty of squared distances: about d^2 near zero, at most 1 far away."""
    s2 = scale * scale
    return sq_dist / (sq_dist + s2)


def keypoint_term(
    projected: Tensor,  # [B, J, 2] projected joints, crop pixels
    keypoints: Tensor,  # [B, J, 2] detected 2D keypoints, crop pixels
    confidence: Tensor,  # [B, J] in [0, 1], 0 = missing
    scale: float,
) -> Tensor:  # [B]
    """Confidence-weighted robust 2D keypoint error (missing keypoints weigh nothing)."""
    sq = (projected - keypoints).square().sum(-1)
    return (confidence * geman_mcclure(sq, scale)).sum(-1) / confidence.sum(-1).clamp_min(1.0)


def rest_distance(rotations: Tensor) -> Tensor:  # [B, J, 3, 3] -> [B]
    """Sum over joints of 3 - trace(R), a smooth squared angle from the rest pose."""
    trace = rotations.diagonal(dim1=-2, dim2=-1).sum(-1)
    return (3.0 - trace).sum(-1)
