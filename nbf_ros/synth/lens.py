"""Synthetic frames as a distorting lens would record them: the pinhole rendering resampled
through camera_info's distortion model, and the ground truth's pixels moved with it (the 3D
truth is unchanged: distortion moves pixels, not bodies)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nbf_ros.estimate import HumanEstimate
from nbf_ros.io.undistort import (
    DISTORTION_MODELS,
    Lens,
    pixel_grid,
    remap,
    remap_nearest,
    sampling_grid,
    undistort_pixels,
)

__all__ = ["DistortingCamera"]


class DistortingCamera:
    """A lens of model ``model`` with coefficients ``D`` in front of a pinhole camera K of
    width x height pixels (the raw image keeps that size)."""

    def __init__(self, K: np.ndarray, width: int, height: int, model: str,
                 D: Sequence[float]) -> None:
        if model not in DISTORTION_MODELS:
            raise ValueError(f"distortion model must be one of {', '.join(DISTORTION_MODELS)}, "
                             f"got {model!r}")
        if not 0 < len(D) <= DISTORTION_MODELS[model] or not np.isfinite(D).all():
            raise ValueError(f"{model} takes 1 to {DISTORTION_MODELS[model]} finite "
                             f"coefficients, got {list(D)}")
        self.lens = Lens(np.asarray(K, dtype=np.float64), width, height, model,
                         np.pad(np.asarray(D, dtype=np.float64),
                                (0, DISTORTION_MODELS[model] - len(D))))
        # Each raw pixel reads the pinhole image where the lens took its light from (the
        # inverse model); beyond the rendering, the nearest rendered pixel.
        source = undistort_pixels(pixel_grid(width, height), self.lens.K, model, self.lens.D)
        self._grid = sampling_grid(source, width, height)

    def image(self, rgb: np.ndarray) -> np.ndarray:  # [H, W, 3] uint8
        """The raw (distorted) image of a pinhole rendering [H, W, 3] uint8."""
        return remap(rgb, self._grid, fill="border")

    def depth(self, depth: np.ndarray) -> np.ndarray:  # [H, W] float32, 0 = no return
        """The raw depth registered to the raw image, of a pinhole depth map [H, W] metres
        (nearest pixel, as a registered sensor's; beyond the rendering, no return)."""
        return remap_nearest(depth, self._grid)

    def truth(self, humans: list[HumanEstimate]) -> list[HumanEstimate]:
        """The ground truth of a pinhole rendering moved into the raw image (in place)."""
        self.lens.to_raw(humans)
        return humans
