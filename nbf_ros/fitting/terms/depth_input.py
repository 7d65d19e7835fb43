"""What the depth term reads: the depth map resampled onto each person's crop grid, its
coarse level, and a start for the body's distance from the depth at its keypoints.

Convention: camera z in metres, 0 where the sensor gave nothing. Resampling never averages
across a depth edge (a person's outline against a wall 2 m behind would give a surface
that is neither): a crop cell takes the median of the valid samples inside it, a coarse
cell the nearest of its four cells.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.fitting.state import BodyState

__all__ = ["crop_depth", "depth_start", "pool_depth"]


def crop_depth(
    depth: Tensor,  # [H, W] metres, 0 = no return
    crop_box: Tensor,  # [N, 4] x0, y0, x1, y1 image pixels
    height: int,
    width: int,
    samples: int = 4,
) -> Tensor:  # [N, height * width]
    """Each crop's depth on its height x width grid: per cell, the median of the valid ones
    among samples x samples nearest-pixel samples spread over the cell (0 if none)."""
    n = crop_box.shape[0]
    img_h, img_w = depth.shape
    dev = depth.device
    sub = (torch.arange(samples, device=dev, dtype=torch.float32) + 0.5) / samples
    def axis(cells: int, lo: Tensor, hi: Tensor) -> Tensor:  # [N, cells * samples] pixels
        t = ((torch.arange(cells, device=dev, dtype=torch.float32)[:, None] + sub)
             / cells).flatten()
        return lo[:, None] + t * (hi - lo)[:, None]
    xs = axis(width, crop_box[:, 0], crop_box[:, 2]).floor().long()
    ys = axis(height, crop_box[:, 1], crop_box[:, 3]).floor().long()
    inside_x = (xs >= 0) & (xs < img_w)
    inside_y = (ys >= 0) & (ys < img_h)
    grid = depth[ys.clamp(0, img_h - 1)[:, :, None], xs.clamp(0, img_w - 1)[:, None, :]]
    grid = grid * (inside_y[:, :, None] & inside_x[:, None, :])  # [N, h*s, w*s]
    cells = grid.view(n, height, samples, width, samples).permute(0, 1, 3, 2, 4)
    cells = cells.reshape(n, height * width, samples * samples)
    # Median of the valid samples: no-returns sort last as NaN and are not counted.
    values = torch.where(cells > 0, cells, torch.full_like(cells, float("nan")))
    median = values.nanmedian(-1).values
    return torch.nan_to_num(median, nan=0.0)


def pool_depth(depth: Tensor, height: int, width: int) -> Tensor:  # [B, (h//2)*(w//2)]
    """The coarse level's depth of cells [B, height * width]: the nearest valid of each
    2 x 2 block (0 if none), matching the fitter's 2 x 2 feature pooling."""
    grid = depth.view(-1, 1, height, width)[..., : height // 2 * 2, : width // 2 * 2]
    far = torch.where(grid > 0, grid, torch.full_like(grid, float("inf")))
    near = -F.max_pool2d(-far, 2)
    return torch.where(torch.isfinite(near), near, torch.zeros_like(near)).flatten(1)


def depth_start(
    init: BodyState,
    joints: Tensor,  # [B, J, 3] the start's joints, camera frame
    keypoints: Tensor,  # [B, J, 2] crop cells
    confidence: Tensor,  # [B, J]
    depth: Tensor,  # [B, h*w] metres, 0 = no return
    width: int,
    surface: float,  # metres from the body's front surface to its joints
    band: float = 0.15,  # metres: shifts this close agree
    support: float = 0.3,  # share of the keypoints' confidence a distance needs
) -> BodyState:
    """``init`` moved along the ray through its root so that its joints lie ``surface``
    behind the depth measured at their keypoints.

    Each confident keypoint with a measurement proposes a shift of the body's distance,
    supported by the confidence of the proposals within ``band`` of it. An occluder is in
    front of the body, so of the proposals with at least ``support`` of the total
    confidence the farthest wins (a board over most of the torso must not win by numbers);
    without any, the best supported. Keypoints that miss a thin limb and see the wall
    behind rarely gather that support. A body with no usable keypoint keeps its start."""
    cells = depth.shape[1]
    col = keypoints[..., 0].floor().long().clamp(0, width - 1)
    row = keypoints[..., 1].floor().long().clamp(0, cells // width - 1)
    measured = depth.gather(1, row * width + col)  # [B, J]
    use = (measured > 0) & (confidence > 0.3)
    shift = measured + surface - joints[..., 2]  # [B, J]
    agree = ((shift[:, :, None] - shift[:, None, :]).abs() < band) & use[:, None, :]
    votes = (agree * confidence[:, None, :]).sum(-1)
    votes = torch.where(use, votes, torch.full_like(votes, -float("inf")))
    total = (confidence * use).sum(1, keepdim=True)
    strong = votes >= support * total
    far = torch.where(strong, shift, torch.full_like(shift, -float("inf")))
    best = torch.where(strong.any(1, keepdim=True), far.argmax(1, keepdim=True),
                       votes.argmax(1, keepdim=True))
    # The median of the agreeing proposals, not the one that won the vote.
    near = agree.gather(1, best[..., None].expand(-1, 1, agree.shape[2]))[:, 0]
    near &= use
    values = torch.where(near, shift, torch.full_like(shift, float("nan")))
    chosen = torch.nan_to_num(values.nanmedian(1).values, nan=0.0) * use.any(1)
    z = init.translation[:, 2]
    new_z = (z + chosen).clamp_min(0.3)
    scale = (new_z / z.clamp_min(1e-3))[:, None]
    return BodyState(init.rotations, init.translation * scale, init.shape)
