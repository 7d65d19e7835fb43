"""Image reading and boxes around keypoints, shared by the dataset loaders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["keypoint_box", "load_image"]


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """The image at ``path`` as RGB uint8 [H, W, 3] (Pillow; grey and RGBA are converted)."""
    from PIL import Image, UnidentifiedImageError  # only image users pay for Pillow

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except UnidentifiedImageError as exc:
        raise ValueError(f"{path}: not an image Pillow can read ({exc})") from exc


def keypoint_box(
    points: np.ndarray,  # [J, 3] x, y, confidence or [J, 2] (all usable)
    min_confidence: float = 0.0,
    margin: float = 0.1,
) -> np.ndarray | None:  # [4] x0, y0, x1, y1
    """Box around the usable points, grown by ``margin`` x its longer side on every side."""
    points = np.asarray(points, dtype=np.float64)
    xy = points[:, :2]
    usable = np.isfinite(xy).all(1)
    if points.shape[1] > 2:
        usable &= points[:, 2] > min_confidence
    xy = xy[usable]
    if len(xy) < 2:
        return None
    low, high = xy.min(0), xy.max(0)
    # One pad for both axes (like SPIN's square crops) so a person seen edge-on or lying down
    # still gets a box of non-zero height and width.
    pad = margin * float((high - low).max())
    return np.concatenate([low - pad, high + pad])
