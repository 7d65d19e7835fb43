"""Square person crops of a frame: the boxes around detections and their resampled pixels."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["resample_crops", "square_crop_boxes"]


def square_crop_boxes(boxes: np.ndarray, margin: float) -> np.ndarray:  # [N, 4]
    """Square crop boxes [N, 4] around detection boxes [N, 4], their side ``margin`` times
    the box's longer side."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]).max(1, keepdims=True) * margin / 2
    return np.concatenate((centre - half, centre + half), 1)


def resample_crops(image: Tensor, boxes: Tensor, size: int) -> Tensor:  # [N, 3, S, S]
    """Crops [N, 3, size, size] of a frame [3, H, W] in the boxes [N, 4] (pixels),
    resampled bilinearly (zeros outside)."""
    _, h, w = image.shape
    t = (torch.arange(size, device=image.device, dtype=torch.float32) + 0.5) / size
    xs = boxes[:, 0, None] + t * (boxes[:, 2] - boxes[:, 0])[:, None]  # [N, S] pixels
    ys = boxes[:, 1, None] + t * (boxes[:, 3] - boxes[:, 1])[:, None]
    gx = (2 * xs / w - 1)[:, None, :].expand(-1, size, -1)
    gy = (2 * ys / h - 1)[:, :, None].expand(-1, -1, size)
    grid = torch.stack((gx, gy), -1)
    return F.grid_sample(image[None].expand(len(boxes), -1, -1, -1), grid,
                         mode="bilinear", align_corners=False)
