"""Estimates drawn over their image: skeletons coloured by joint state, boxes, track ids and
the fit's occlusion map (what the node's debug image and the demo picture show)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from nbf_ros.body.joints import SMPL24_BONES, SMPL24_NAMES
from nbf_ros.estimate import HumanEstimate, JointState

__all__ = ["OCCLUSION_RGB", "STATE_RGB", "draw_estimates"]

# One colour per joint state, shared with the RViz markers (ros/markers.py).
STATE_RGB: dict[int, tuple[int, int, int]] = {
    JointState.VISIBLE: (40, 220, 60),
    JointState.OCCLUDED: (235, 40, 40),
    JointState.OUTSIDE_IMAGE: (150, 150, 150),
    JointState.UNKNOWN: (150, 150, 150),
}
OCCLUSION_RGB = (255, 0, 255)  # tint of body pixels the clutter model explains


def _tint_occlusion(image: Image.Image, est: HumanEstimate, alpha: float) -> None:
    """Blend the estimate's occlusion map (crop grid) into its crop box, in place."""
    occ, box = est.extra.get("occlusion"), est.extra.get("crop_box")
    if occ is None or box is None:
        return
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    grid = Image.fromarray(np.clip(np.asarray(occ) * 255, 0, 255).astype(np.uint8))
    mask = np.asarray(grid.resize((x1 - x0, y1 - y0), Image.BILINEAR), dtype=np.float32) / 255
    canvas = np.asarray(image, dtype=np.float32)
    # Only the part of the crop box inside the image is drawn.
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x1, canvas.shape[1]), min(y1, canvas.shape[0])
    if ix1 <= ix0 or iy1 <= iy0:
        return
    m = alpha * mask[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0, None]
    region = canvas[iy0:iy1, ix0:ix1]
    canvas[iy0:iy1, ix0:ix1] = region * (1 - m) + np.array(OCCLUSION_RGB) * m
    image.paste(Image.fromarray(canvas.astype(np.uint8)))


def draw_estimates(rgb: np.ndarray, estimates: Sequence[HumanEstimate],
                   occlusion_alpha: float = 0.5, width: int = 2) -> np.ndarray:
    """A copy of an RGB uint8 image [H, W, 3] with the estimates drawn on it."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {rgb.dtype} {rgb.shape}")
    image = Image.fromarray(rgb)
    for est in estimates:
        _tint_occlusion(image, est, occlusion_alpha)
    draw = ImageDraw.Draw(image)
    radius = max(2, width + 1)
    for est in estimates:
        uv = np.asarray(est.keypoints_2d, dtype=np.float64)
        if not np.isfinite(uv).all():
            continue
        state = np.asarray(est.joint_state)
        bones = SMPL24_BONES if tuple(est.joint_names) == SMPL24_NAMES else ()
        for child, parent in bones:
            # A bone is drawn in the worse state of its two ends.
            colour = STATE_RGB[int(max(state[child], state[parent]))]
            draw.line([tuple(uv[parent]), tuple(uv[child])], fill=colour, width=width)
        for (u, v), s in zip(uv, state, strict=True):
            draw.ellipse([u - radius, v - radius, u + radius, v + radius],
                         fill=STATE_RGB[int(s)], outline=(0, 0, 0))
        x0, y0, x1, y1 = (float(v) for v in est.roi)
        draw.rectangle([x0, y0, x1, y1], outline=(255, 210, 0), width=1)
        label = f"id {est.track_id}  {est.occluded_fraction:.0%} hidden"
        draw.text((x0 + 3, max(y0 - 12, 0)), label, fill=(255, 210, 0))
    return np.asarray(image)
