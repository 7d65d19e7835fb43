"""Pinhole cameras of render crops: the region of the image a person is fitted in."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["CropCamera", "crop_intrinsics", "inverse_3x3", "pixel_of", "pixel_rays", "project"]


@dataclass
class CropCamera:
    """Intrinsics of a H x W render crop; the crop shares the image camera's optical centre.

    Pixel (u, v) of the crop covers [u, u+1) x [v, v+1); its centre is at (u + 0.5, v + 0.5).
    """

    K: Tensor  # [B, 3, 3] intrinsics in crop pixels
    height: int
    width: int

    @property
    def batch(self) -> int:
        """Number of crops B."""
        return self.K.shape[0]

    def to(self, device: torch.device | str) -> CropCamera:
        """The same crops with intrinsics on ``device``."""
        return CropCamera(self.K.to(device), self.height, self.width)

    def index(self, idx: Tensor | slice | list[int]) -> CropCamera:
        """The crops selected by ``idx``."""
        return CropCamera(self.K[idx], self.height, self.width)

    def repeat(self, n: int) -> CropCamera:
        """Each crop repeated n times consecutively (for hypotheses)."""
        return CropCamera(self.K.repeat_interleave(n, 0), self.height, self.width)


def crop_intrinsics(
    K: Tensor,  # [B, 3, 3] image intrinsics
    box: Tensor,  # [B, 4] crop box (x0, y0, x1, y1) in image pixels
    height: int,
    width: int,
) -> Tensor:  # [B, 3, 3]
    """Intrinsics of a crop of the image box resampled to height x width pixels."""
    sx = width / (box[:, 2] - box[:, 0])
    sy = height / (box[:, 3] - box[:, 1])
    out = K.clone()
    out[:, 0, 0] = K[:, 0, 0] * sx
    out[:, 0, 1] = K[:, 0, 1] * sx
    out[:, 0, 2] = (K[:, 0, 2] - box[:, 0]) * sx
    out[:, 1, 1] = K[:, 1, 1] * sy
    out[:, 1, 2] = (K[:, 1, 2] - box[:, 1]) * sy
    return out


def inverse_3x3(a: Tensor) -> Tensor:  # [..., 3, 3] -> [..., 3, 3]
    """Inverse of 3 x 3 matrices by the adjugate: unlike torch.linalg.inv it never checks
    for singular ones on the host (a device sync, which a CUDA graph cannot hold); a
    singular matrix gives non-finite entries."""
    r0, r1, r2 = a.unbind(-2)
    cols = (torch.linalg.cross(r1, r2), torch.linalg.cross(r2, r0), torch.linalg.cross(r0, r1))
    det = (r0 * cols[0]).sum(-1)[..., None, None]
    return torch.stack(cols, -1) / det


def pixel_rays(cam: CropCamera) -> Tensor:  # -> [B, H*W, 3]
    """Unit ray direction through each crop pixel centre, row-major, camera frame."""
    dev, dt = cam.K.device, cam.K.dtype
    v, u = torch.meshgrid(
        torch.arange(cam.height, device=dev, dtype=dt) + 0.5,
        torch.arange(cam.width, device=dev, dtype=dt) + 0.5,
        indexing="ij",
    )
    pix = torch.stack((u, v, torch.ones_like(u)), -1).reshape(-1, 3)  # [P, 3]
    rays = pix @ inverse_3x3(cam.K).transpose(-1, -2)  # [B, P, 3]
    return rays / rays.norm(dim=-1, keepdim=True)


def project(points: Tensor, K: Tensor) -> Tensor:  # [B, N, 3], [B, 3, 3] -> [B, N, 2]
    """Pixel coordinates of camera-frame points (points behind the camera are clamped)."""
    uvw = points @ K.transpose(-1, -2)
    return uvw[..., :2] / uvw[..., 2:].clamp_min(1e-6)


def pixel_of(points: Tensor, cam: CropCamera) -> tuple[Tensor, Tensor, Tensor]:
    """Crop pixel each point projects into: column u and row v clamped to the crop, and
    whether the point falls inside it. [B, N, 3] -> [B, N] long, long, bool."""
    uv = project(points, cam.K).floor().long()
    u, v = uv[..., 0], uv[..., 1]
    inside = (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
    return u.clamp(0, cam.width - 1), v.clamp(0, cam.height - 1), inside
