"""Depth term: the body's rendered depth against a registered depth camera's, on the pixels
the occlusion model gives to the body.

Inputs: the measured camera z of each crop cell (``DepthMap`` from depth_input.py, 0 where
the sensor gave nothing), the render (kernel centres, rays, kernel lists and weights) and
the feature likelihood's occlusion map. Per cell p with a measurement d_p and the render's
depth z_p (renderer.expected_depth):

* depth occlusion (``FitConfig.depth_occlusion``): something clearly nearer than the body
  hides it, ``o_p = sigmoid((z_p - offset - d_p - margin) / (margin / 8))``; of the body's coverage
  not already hidden by the feature likelihood's occlusion, that share is hidden too, so
  an occluder's pixels neither pull the body (below) nor count as seen (joint visibility);
* residual r_p = z_p - offset - d_p (``depth_render_offset``: kernel centres lie inside
  the skin they render), robust Geman-McClure rho(r) = r^2 / (r^2 + s^2) with scale s
  (``depth_scale``): a surface a few scales off (background, an occluder edge, a flying
  pixel) costs about a constant and pulls no more;
* loss = ``depth_weight`` x mean over cells of (coverage - occlusion) x rho(r_p), the
  coverage and occlusion held fixed in each step (weights, as an E-step gives), so the body
  cannot lower the term by shrinking its coverage.

Units: metres; the mean over cells matches the feature likelihood's mean per-pixel score.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nbf_ros.fitting.config import FitConfig
from nbf_ros.nbv.renderer import expected_depth

__all__ = ["DepthTerm", "depth_occlusion", "depth_term", "geman_mcclure"]


@dataclass
class DepthTerm:
    """The depth term's loss per body and the occlusion map it leaves."""

    loss: Tensor  # [B] weighted, ready to add to the objective
    occlusion: Tensor  # [B, P] occlusion of the body's coverage, features and depth together
    rendered: Tensor  # [B, P] render's camera z of the skin (meaningless off the body)


def geman_mcclure(residual: Tensor, scale: float) -> Tensor:
    """rho(r) = r^2 / (r^2 + s^2): quadratic near 0, tends to 1 far away."""
    sq = residual.square()
    return sq / (sq + scale * scale)


def depth_occlusion(rendered: Tensor, measured: Tensor, margin: float) -> Tensor:  # [B, P]
    """Chance that each cell's body is hidden by a nearer surface: the measurement is
    ``margin`` metres or more in front of the rendered depth (0 where nothing measured)."""
    soft = torch.sigmoid((rendered - measured - margin) / (0.125 * margin))
    return soft * (measured > 0)


def depth_term(
    points: Tensor,  # [B, K, 3] kernel centres, camera frame
    rays: Tensor,  # [B, P, 3]
    index: Tensor,  # [B, P, M] long
    weight: Tensor,  # [B, P, M] render weights
    measured: Tensor,  # [B, P] camera z metres, 0 = no return
    occlusion: Tensor,  # [B, P] the feature likelihood's occlusion (part of the coverage)
    cfg: FitConfig,
) -> DepthTerm:
    """The depth term of a batch of renders (see the module docstring)."""
    rendered = expected_depth(points, rays, index, weight) - cfg.depth_render_offset
    coverage = weight.sum(-1).detach()
    if cfg.depth_occlusion:
        hidden = depth_occlusion(rendered.detach(), measured, cfg.depth_occlusion_margin)
        occlusion = occlusion + (coverage - occlusion).clamp_min(0) * hidden
    seen = (coverage - occlusion.detach()).clamp_min(0) * (measured > 0)
    rho = geman_mcclure(rendered - measured, cfg.depth_scale)
    loss = cfg.depth_weight * (seen * rho).mean(-1)
    return DepthTerm(loss=loss, occlusion=occlusion, rendered=rendered)
