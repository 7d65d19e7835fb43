"""Feature-space scenes: what a perfect feature network would see, with controlled noise.

The fitting core can be checked before any network exists: render the kernel features of
a known pose, put clutter features on the background and on occluders, add noise, and
fit the pose back. Also the scenes of the fitting benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.body.joints import FITTED_JOINTS
from nbf_ros.body.rotations import axis_angle_to_matrix
from nbf_ros.fitting.state import BodyState
from nbf_ros.nbv.camera import CropCamera, crop_intrinsics, project
from nbf_ros.nbv.renderer import RenderConfig, render
from nbf_ros.nbv.volume import NeuralBodyVolume

__all__ = ["FeatureScene", "crop_camera_for", "feature_scene", "perturb", "random_states"]


@dataclass
class FeatureScene:
    """Crop features of B people with their ground truth."""

    features: Tensor  # [B, H*W, D] unit features
    camera: CropCamera
    truth: BodyState
    joints: Tensor  # [B, J, 3] true joints, camera frame
    occluder: Tensor  # [B, H, W] bool, pixels covered by the occluder
    body_mask: Tensor  # [B, H, W] true body coverage (foreground weight)


def random_states(volume: NeuralBodyVolume, batch: int, gen: torch.Generator,
                  max_angle: float = 0.6, depth: tuple[float, float] = (3.0, 5.0)) -> BodyState:
    """Random plausible poses: bounded joint rotations, upright, roughly facing the camera."""
    names = volume.body.joint_names
    num_j = len(names)
    state = BodyState.facing_camera(torch.zeros(batch, 3), num_j, volume.body.num_shape)
    fitted = [names.index(n) for n in FITTED_JOINTS]
    aa = torch.zeros(batch, num_j, 3)
    aa[:, fitted] = _random_rotvec(batch, len(fitted), max_angle, gen)
    yaw = (torch.rand(batch, generator=gen) - 0.5) * 1.5  # within about +-43 degrees
    aa[:, 0] = 0.0
    rot = axis_angle_to_matrix(aa)
    turn = axis_angle_to_matrix(torch.stack((torch.zeros(batch), yaw, torch.zeros(batch)), -1))
    rot[:, 0] = state.rotations[:, 0] @ turn
    z = depth[0] + (depth[1] - depth[0]) * torch.rand(batch, generator=gen)
    xy = (torch.rand(batch, 2, generator=gen) - 0.5) * 0.6
    return BodyState(rot, torch.cat((xy, z[:, None]), -1), state.shape)


def _random_rotvec(batch: int, count: int, max_angle: float, gen: torch.Generator) -> Tensor:
    """Rotation vectors with uniform random axes and angles in [0, max_angle]."""
    axis = F.normalize(torch.randn(batch, count, 3, generator=gen), dim=-1)
    return axis * (max_angle * torch.rand(batch, count, 1, generator=gen))


def perturb(state: BodyState, names: tuple[str, ...], gen: torch.Generator,
            joint_deg: float = 20.0, root_deg: float = 10.0, root_cm: float = 10.0) -> BodyState:
    """The state with every fitted joint turned by joint_deg about a random axis, the root
    turned by root_deg and moved by root_cm in a random direction."""
    batch = state.batch
    fitted = torch.tensor([names.index(n) for n in FITTED_JOINTS])
    axis = F.normalize(torch.randn(batch, len(fitted), 3, generator=gen), dim=-1)
    delta = axis_angle_to_matrix(axis * torch.deg2rad(torch.tensor(joint_deg)))
    rot = state.rotations.clone()
    rot[:, fitted] = rot[:, fitted] @ delta
    root_axis = F.normalize(torch.randn(batch, 3, generator=gen), dim=-1)
    rot[:, 0] = axis_angle_to_matrix(root_axis * torch.deg2rad(torch.tensor(root_deg))) @ rot[:, 0]
    shift = F.normalize(torch.randn(batch, 3, generator=gen), dim=-1) * root_cm / 100.0
    return BodyState(rot, state.translation + shift, state.shape.clone())


def crop_camera_for(joints: Tensor, K: Tensor, size: int, margin: float = 1.3) -> CropCamera:
    """Square crop camera around each body's projected joints: [B, J, 3], [3, 3] intrinsics."""
    uv = project(joints, K.expand(joints.shape[0], 3, 3))
    lo, hi = uv.amin(1), uv.amax(1)
    centre, half = (lo + hi) / 2, (hi - lo).amax(-1, keepdim=True) / 2 * margin + 4.0
    box = torch.cat((centre - half, centre + half), -1)
    return CropCamera(crop_intrinsics(K.expand(joints.shape[0], 3, 3), box, size, size),
                      size, size)


def feature_scene(
    volume: NeuralBodyVolume,
    truth: BodyState,
    gen: torch.Generator,
    size: int = 80,
    noise: float = 0.5,
    occluder_fraction: float = 0.0,
    focal: float = 600.0,
) -> FeatureScene:
    """Crop features of the true bodies (kernel features where the body is, clutter
    elsewhere and on a square occluder covering ``occluder_fraction`` of the body's
    pixels), plus Gaussian noise of relative size ``noise``, unit-normalised."""
    batch = truth.batch
    K = torch.tensor([[focal, 0.0, 320.0], [0.0, focal, 240.0], [0.0, 0.0, 1.0]])
    with torch.no_grad():
        posed = volume.pose(truth.rotations, truth.translation, truth.shape)
        cam = crop_camera_for(posed.joints, K, size)
        out = render(posed.points, volume.sigma, cam, RenderConfig(max_per_pixel=10))
        kf = volume.kernel_features(posed)  # [B, K, D]
        idx = out.index.clamp_min(0)
        picked = kf.gather(1, idx.flatten(1)[..., None].expand(-1, -1, kf.shape[-1]))
        body = (picked.view(*idx.shape, -1) * out.weight[..., None]).sum(2)  # [B, P, D]
        # Background: smooth blobs of clutter features (one bank entry per 8 x 8 block).
        blocks = torch.randint(len(volume.clutter), (batch, size // 8 + 1, size // 8 + 1),
                               generator=gen)
        grid = blocks.repeat_interleave(8, 1).repeat_interleave(8, 2)[:, :size, :size]
        background = volume.clutter[grid.flatten(1)]  # [B, P, D]
        fg = out.foreground.view(batch, size, size)
        occl = _square_occluder(fg, occluder_fraction, gen)
        occl_feat = volume.clutter[torch.randint(len(volume.clutter), (batch,), generator=gen)]
        occl_flat = occl.flatten(1)[..., None]
        mix = body + (1.0 - out.foreground)[..., None] * background
        mix = torch.where(occl_flat, occl_feat[:, None, :].expand_as(mix), mix)
        dim = mix.shape[-1]
        mix = F.normalize(mix, dim=-1) + noise * torch.randn(mix.shape, generator=gen) / dim**0.5
    return FeatureScene(F.normalize(mix, dim=-1), cam, truth, posed.joints, occl, fg)


def _square_occluder(fg: Tensor, fraction: float, gen: torch.Generator) -> Tensor:
    """A square per crop covering about ``fraction`` of the body's coverage, placed on it."""
    batch, h, w = fg.shape
    mask = torch.zeros(batch, h, w, dtype=torch.bool)
    if fraction <= 0:
        return mask
    for b in range(batch):
        area = float(fg[b].sum())
        ys, xs = torch.nonzero(fg[b] > 0.5, as_tuple=True)
        best = None
        for _ in range(20):  # sample squares centred on the body, keep the closest to target
            jitter = 0.8 + 0.8 * float(torch.rand(1, generator=gen))
            side = int(round((fraction * area) ** 0.5 * jitter))
            pick = int(torch.randint(len(ys), (1,), generator=gen))
            y0 = max(0, min(h - side, int(ys[pick]) - side // 2))
            x0 = max(0, min(w - side, int(xs[pick]) - side // 2))
            cover = float(fg[b, y0 : y0 + side, x0 : x0 + side].sum()) / max(area, 1e-6)
            if best is None or abs(cover - fraction) < abs(best[0] - fraction):
                best = (cover, y0, x0, side)
        _, y0, x0, side = best
        mask[b, y0 : y0 + side, x0 : x0 + side] = True
    return mask
