"""Square, possibly rotated regions of interest around people, and sampling them.

Convention: image pixels, x right, y down, pixel (u, v) covers [u, u+1) x [v, v+1). A ROI is
a square of side ``side`` centred at ``centre`` whose downward axis points along ``down``
(a unit vector in the image; (0, 1) for an upright person). Its rightward axis is ``down``
turned by -90 degrees, (down_y, -down_x), so an unrotated ROI is an axis-aligned square.
A ROI sampled at S x S has ROI pixel (0, 0) at its top-left corner (the corner ``centre -
side/2 * (right + down)``) and (S, S) at the opposite one.

BlazePose's landmark model takes such a ROI at 256 x 256; its tracking ROI comes from two of
its auxiliary landmarks (hip centre and a point above the head, MediaPipe's pose
"alignment points"), side twice their distance times 1.25 (MediaPipe's pose graph settings).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Roi", "concat_rois", "rois_from_alignment", "rois_from_boxes", "sample_rois",
           "upper_body_rois"]

ROI_SCALE = 1.25  # ROI side / person extent (box longer side, or twice the alignment span)


@dataclass
class Roi:
    """N square ROIs in image pixels."""

    centre: np.ndarray  # [N, 2] x, y
    side: np.ndarray  # [N] pixels
    down: np.ndarray  # [N, 2] unit vectors: each ROI's downward axis in the image

    def __len__(self) -> int:
        return len(self.side)

    @property
    def right(self) -> np.ndarray:  # [N, 2]
        """Each ROI's rightward axis in the image."""
        return np.stack((self.down[:, 1], -self.down[:, 0]), 1)

    def index(self, idx: list[int] | np.ndarray) -> Roi:
        """The ROIs selected by ``idx``."""
        return Roi(self.centre[idx], self.side[idx], self.down[idx])

    def to_image(self, uv: np.ndarray, size: int) -> np.ndarray:  # [N, L, 2] -> [N, L, 2]
        """Points [N, L, 2] in ROI pixels (of an S = ``size`` sampling) to image pixels."""
        t = uv / size - 0.5  # [-0.5, 0.5] across the ROI
        scale = self.side[:, None, None]
        return (self.centre[:, None] + scale * (t[..., :1] * self.right[:, None]
                                                + t[..., 1:] * self.down[:, None]))

    def from_image(self, xy: np.ndarray, size: int) -> np.ndarray:  # [N, L, 2] -> [N, L, 2]
        """Points [N, L, 2] in image pixels to ROI pixels (of an S = ``size`` sampling)."""
        d = (xy - self.centre[:, None]) / self.side[:, None, None]
        u = (d * self.right[:, None]).sum(-1)
        v = (d * self.down[:, None]).sum(-1)
        return (np.stack((u, v), -1) + 0.5) * size

    def rotate_to_image(self, vec: np.ndarray) -> np.ndarray:  # [N, L, 2] -> [N, L, 2]
        """Directions [N, L, 2] in ROI axes (x right, y down) to image axes."""
        return vec[..., :1] * self.right[:, None] + vec[..., 1:] * self.down[:, None]

    def boxes(self) -> np.ndarray:  # [N, 4]
        """Axis-aligned boxes x0, y0, x1, y1 holding each ROI."""
        half = 0.5 * self.side[:, None] * (np.abs(self.right) + np.abs(self.down))
        return np.concatenate((self.centre - half, self.centre + half), 1)


def concat_rois(rois: list[Roi]) -> Roi:
    """One Roi of several (at least one)."""
    return Roi(np.concatenate([r.centre for r in rois]), np.concatenate([r.side for r in rois]),
               np.concatenate([r.down for r in rois]))


def rois_from_boxes(boxes: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """Upright square ROIs around person boxes [N, 4] (x0, y0, x1, y1): side ``scale`` x
    the box's longer side, centred on the box."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = (boxes[:, 2:] - boxes[:, :2]).max(1) * scale
    down = np.tile([0.0, 1.0], (len(boxes), 1))
    return Roi(centre, side, down)


def upper_body_rois(boxes: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """Upright square ROIs for boxes [N, 4] that may hold only the top of a person (the
    rest hidden behind a table or cut by the frame): the person taken twice the box's height,
    head at the box's top, as the landmark model wants the whole body in view."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    height = 2.0 * (boxes[:, 3] - boxes[:, 1])
    centre = np.stack(((boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 1] + height / 2), 1)
    down = np.tile([0.0, 1.0], (len(boxes), 1))
    return Roi(centre, height * scale, down)


def rois_from_alignment(hip: np.ndarray, top: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """ROIs from two alignment points per person [N, 2] (hip centre, and a point above the
    head): centred on the hip, side 2 x their distance x ``scale``, down from top to hip."""
    hip = np.asarray(hip, dtype=np.float64).reshape(-1, 2)
    top = np.asarray(top, dtype=np.float64).reshape(-1, 2)
    span = hip - top
    length = np.linalg.norm(span, axis=1)
    # A degenerate span (both points on one pixel) means upright.
    down = np.where(length[:, None] > 1e-6, span / np.maximum(length, 1e-6)[:, None],
                    np.array([0.0, 1.0]))
    return Roi(hip.copy(), 2.0 * length * scale, down)


def sample_rois(image: Tensor, roi: Roi, size: int) -> Tensor:  # [3, H, W] -> [N, 3, S, S]
    """Each ROI of an image [3, H, W] resampled bilinearly to ``size`` x ``size`` (zeros
    outside the image)."""
    _, h, w = image.shape
    dev = image.device
    t = (torch.arange(size, device=dev, dtype=torch.float32) + 0.5) / size - 0.5  # [S]
    centre = torch.as_tensor(roi.centre, dtype=torch.float32, device=dev)  # [N, 2]
    side = torch.as_tensor(roi.side, dtype=torch.float32, device=dev)[:, None, None, None]
    right = torch.as_tensor(roi.right, dtype=torch.float32, device=dev)[:, None, None]
    down = torch.as_tensor(roi.down, dtype=torch.float32, device=dev)[:, None, None]
    # [N, S(v), S(u), 2] image pixels of each sample's centre.
    xy = centre[:, None, None] + side * (t[None, None, :, None] * right
                                         + t[None, :, None, None] * down)
    grid = torch.stack((2 * xy[..., 0] / w - 1, 2 * xy[..., 1] / h - 1), -1)
    return F.grid_sample(image[None].expand(len(roi), -1, -1, -1), grid, mode="bilinear",
                         padding_mode="zeros", align_corners=False)
