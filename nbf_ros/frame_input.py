"""A frame and its intrinsics as the pipeline takes them: checked, then put on the device."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["frame_input"]


def frame_input(rgb: np.ndarray, K: np.ndarray, detect_size: int, device: torch.device
                ) -> tuple[Tensor, np.ndarray]:
    """The RGB uint8 frame [H, W, 3] as a [3, H, W] tensor in [0, 1] on ``device``, and K as
    float64 [3, 3]; a frame or K the pipeline cannot take raises ValueError (one line)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or 0 in rgb.shape:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {rgb.dtype} "
                         f"{rgb.shape}")
    if min(rgb.shape[:2]) * detect_size < max(rgb.shape[:2]):
        # Detection's downscaled frame would have a side of under one pixel.
        raise ValueError(f"image of {rgb.shape[1]} x {rgb.shape[0]} pixels is too long "
                         f"and thin to detect people in (sides over {detect_size}:1)")
    K_np = np.asarray(K, dtype=np.float64)
    if K_np.shape != (3, 3) or not np.isfinite(K_np).all() or K_np[0, 0] <= 0 \
            or K_np[1, 1] <= 0:
        raise ValueError("K must be a finite 3 x 3 intrinsics matrix with positive focal "
                         "lengths")
    image = torch.from_numpy(np.ascontiguousarray(rgb)).to(device)
    return image.permute(2, 0, 1).float() / 255.0, K_np
