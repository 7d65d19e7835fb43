"""From network heads to what fitting needs: keypoints, an initial body state, crop features.

All functions work on a batch of person crops: the network ran on crops of the image, each
with its own intrinsics K (``nbf_ros.nbv.camera.crop_intrinsics``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.fitting.state import BodyState
from nbf_ros.nbv.camera import CropCamera, inverse_3x3
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.vision.network import STRIDE, NetOutput, rotation_6d_to_matrix

__all__ = ["CropReadout", "heatmap_keypoints", "read_crops", "solve_translation"]


@dataclass
class CropReadout:
    """Everything the fitter takes for B crops, and the regression head's own estimate."""

    features: Tensor  # [B, h*w, D] unit features, row-major
    camera: CropCamera  # intrinsics of the feature grid (h x w cells)
    keypoints: Tensor  # [B, J, 2] in feature-grid cells (the fitter's crop pixels)
    keypoint_confidence: Tensor  # [B, J] in [0, 1]
    regression: BodyState  # pose regressed by the network, translation from keypoints
    regression_joints: Tensor  # [B, J, 3] camera frame
    # [B, bins] weights of each crop's facing azimuth (nbf_ros.vision.turn_head), when the
    # pipeline reads it; the cold fit's choice among turned starts weighs them.
    turn: Tensor | None = None
    # [B, h*w] p(person) per feature cell from a real-trained segmenter (the front end's
    # landmark model), the clutter model's prior (fitting/terms/person_prior.py).
    person_prior: Tensor | None = None


def heatmap_keypoints(heatmaps: Tensor) -> tuple[Tensor, Tensor]:
    """Peak of each heatmap logit map [B, J, h, w] with a sub-cell refinement by the
    soft-argmax of its 3 x 3 neighbourhood: positions [B, J, 2] in cells (x, y; cell centres
    at +0.5) and peak probabilities [B, J]."""
    bsz, num_j, h, w = heatmaps.shape
    flat = heatmaps.flatten(2)
    peak = flat.argmax(-1)
    conf = flat.gather(-1, peak[..., None])[..., 0].sigmoid()
    py, px = peak // w, peak % w
    prob = heatmaps.sigmoid()
    pad = F.pad(prob, (1, 1, 1, 1))
    offs = torch.arange(-1, 2, device=heatmaps.device)
    dy, dx = torch.meshgrid(offs, offs, indexing="ij")
    ys = (py[..., None, None] + 1 + dy).clamp(0, h + 1)
    xs = (px[..., None, None] + 1 + dx).clamp(0, w + 1)
    b = torch.arange(bsz, device=heatmaps.device)[:, None, None, None]
    j = torch.arange(num_j, device=heatmaps.device)[None, :, None, None]
    patch = pad[b, j, ys, xs]  # [B, J, 3, 3]
    mass = patch.sum((-1, -2)).clamp_min(1e-6)
    off_x = (patch * dx).sum((-1, -2)) / mass
    off_y = (patch * dy).sum((-1, -2)) / mass
    pos = torch.stack((px + 0.5 + off_x, py + 0.5 + off_y), -1)
    return pos, conf


def solve_translation(rel_joints: Tensor, keypoints: Tensor, weight: Tensor, K: Tensor,
                      fallback_depth: Tensor) -> Tensor:
    """Translation t making the root-relative joints [B, J, 3] project onto the keypoints
    [B, J, 2] (pixels of K [B, 3, 3]) in weighted least squares; ``fallback_depth`` [B] is
    used where the system is degenerate or puts the body behind the camera.

    Linear in t: for normalised keypoint (x, y), (X + t)_x - x (X + t)_z = 0 and likewise
    for y (the translation estimate of, e.g., SPIN's evaluation code, written here anew).
    """
    fx, fy = K[:, 0, 0, None], K[:, 1, 1, None]
    x = (keypoints[..., 0] - K[:, 0, 2, None]) / fx
    y = (keypoints[..., 1] - K[:, 1, 2, None]) / fy
    zeros, ones = torch.zeros_like(x), torch.ones_like(x)
    a = torch.cat((torch.stack((ones, zeros, -x), -1), torch.stack((zeros, ones, -y), -1)), 1)
    rhs = torch.cat((x * rel_joints[..., 2] - rel_joints[..., 0],
                     y * rel_joints[..., 2] - rel_joints[..., 1]), 1)
    wt = torch.cat((weight, weight), 1)[..., None]
    ata = (a * wt).transpose(1, 2) @ a + 1e-6 * torch.eye(3, device=a.device)
    atb = ((a * wt).transpose(1, 2) @ rhs[..., None])[..., 0]
    # Closed form, not torch.linalg.solve: that checks for singular systems on the host, a
    # sync a CUDA graph cannot hold; a singular one gives non-finite t, replaced below.
    t = (inverse_3x3(ata) @ atb[..., None])[..., 0]
    bad = ~torch.isfinite(t).all(-1) | (t[:, 2] < 0.3) | (weight.gt(0).sum(1) < 3)
    # The fallback is computed for every body, not only where one is bad: asking whether
    # any is would be a host sync, which a CUDA graph cannot hold.
    centre = (keypoints * weight[..., None]).sum(1) / weight.sum(1, keepdim=True).clamp_min(
        1e-6)
    ray = torch.stack(((centre[:, 0] - K[:, 0, 2]) / K[:, 0, 0],
                       (centre[:, 1] - K[:, 1, 2]) / K[:, 1, 1],
                       torch.ones_like(centre[:, 0])), -1)
    return torch.where(bad[:, None], ray * fallback_depth[:, None], t)


@torch.no_grad()
def read_crops(out: NetOutput, K: Tensor, volume: NeuralBodyVolume,
               turn: Tensor | None = None) -> CropReadout:
    """Fitting inputs for crops whose network input pixels have intrinsics K [B, 3, 3]
    (``turn``: their facing azimuths' bin weights, passed through)."""
    bsz, dim, h, w = out.features.shape
    cell_K = K.clone()
    cell_K[:, :2] /= STRIDE  # one feature cell is STRIDE input pixels
    camera = CropCamera(cell_K, h, w)
    keypoints, conf = heatmap_keypoints(out.heatmaps)
    rot = rotation_6d_to_matrix(out.pose6d)
    shape = out.shape
    rel = volume.body(rot, torch.zeros(bsz, 3, device=rot.device), shape).joints
    # Depth guess if keypoints fail: a 1.7 m person filling 3/4 of the crop height.
    fallback = cell_K[:, 1, 1] * 1.7 / (0.75 * h)
    trans = solve_translation(rel, keypoints, conf, cell_K, fallback)
    features = out.features.permute(0, 2, 3, 1).reshape(bsz, h * w, dim)
    state = BodyState(rot, trans, shape)
    return CropReadout(features, camera, keypoints, conf, state, rel + trans[:, None], turn)
