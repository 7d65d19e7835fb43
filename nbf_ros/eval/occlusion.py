"""The occlusion benchmark's protocol: textured square occluders, placed at random or at the
worst position for each method (3DPW-AdvOcc, Zhang et al. 2023: squares of 40 and 80 px at a
224 px reference, stride 10, the position with the largest error on the joints the square
leaves visible), and errors on the joints every method reports.

Methods see one person per image and share its true box (MediaPipe finds the person
itself). Errors are on COMMON_JOINTS after moving the mid-hip point to the origin (MPJPE)
and after a similarity alignment (PA-MPJPE), in millimetres.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nbf_ros.body.joints import SMPL24_NAMES
from nbf_ros.eval.frame_eval import procrustes_errors
from nbf_ros.synth.textures import pattern, random_colour

__all__ = ["COMMON_JOINTS", "REFERENCE_SIZE", "Attack", "common_joints", "grid_corners",
           "pose_errors", "textured_square", "with_square", "worst_position"]

REFERENCE_SIZE = 224  # occluder sizes and stride are given at this image size (pixels)
# Joints of SMPL-24 that MediaPipe's 33 landmarks also have (shoulders to ankles).
COMMON_JOINTS = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                 "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                 "right_knee", "left_ankle", "right_ankle")
_COMMON_INDEX = [SMPL24_NAMES.index(n) for n in COMMON_JOINTS]
_HIPS = [COMMON_JOINTS.index("left_hip"), COMMON_JOINTS.index("right_hip")]

# A method: images [N of H x W x 3 uint8] of one person (intrinsics K, true box) ->
# common joints [N, 12, 3] in metres (NaN rows where it found nobody).
Method = Callable[[Sequence[np.ndarray], np.ndarray, np.ndarray], np.ndarray]


def common_joints(smpl24: np.ndarray) -> np.ndarray:
    """COMMON_JOINTS [..., 12, D] of SMPL-24 joints [..., 24, D] (3D points or pixels)."""
    return np.asarray(smpl24)[..., _COMMON_INDEX, :]


def mid_hip_aligned(joints: np.ndarray) -> np.ndarray:
    """Common joints [..., 12, 3] less their mid-hip: what the errors compare."""
    joints = np.asarray(joints)
    return joints - joints[..., _HIPS, :].mean(-2, keepdims=True)


def pose_errors(pred: np.ndarray, gt: np.ndarray, joints: np.ndarray | None = None
                ) -> tuple[float, float]:
    """(MPJPE, PA-MPJPE) in mm of 12 common joints [12, 3] (metres), mid-hip aligned, over
    ``joints`` (bool [12], default all); NaN when pred is not finite."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if not np.isfinite(pred).all():
        return float("nan"), float("nan")
    sel = np.ones(len(gt), bool) if joints is None else np.asarray(joints, bool)
    p, g = mid_hip_aligned(pred), mid_hip_aligned(gt)
    mpjpe = float(np.linalg.norm(p - g, axis=-1)[sel].mean()) * 1000
    pa = float(procrustes_errors(pred, gt)[sel].mean()) * 1000
    return mpjpe, pa


def textured_square(seed: int, side: int) -> np.ndarray:
    """A side x side RGB uint8 square with a random colour and pattern (deterministic)."""
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(side, dtype=torch.float32),
                            torch.arange(side, dtype=torch.float32), indexing="ij")
    texture = 0.45 + 0.55 * pattern(gen, torch.stack((xs, ys), -1), max(side * 0.25, 2.0))
    rgb = random_colour(gen)[None, None] * texture[..., None]
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def with_square(image: np.ndarray, square: np.ndarray, corner: tuple[int, int]) -> np.ndarray:
    """A copy of the image with the square pasted at corner (x0, y0), clipped to the image."""
    out = np.array(image)
    x0, y0 = corner
    side = square.shape[0]
    h, w = out.shape[:2]
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if xb > xa and yb > ya:
        out[ya:yb, xa:xb] = square[ya - y0:yb - y0, xa - x0:xb - x0]
    return out


def grid_corners(box: np.ndarray, side: int, stride: int, width: int, height: int
                 ) -> list[tuple[int, int]]:
    """Top-left corners of squares whose centres walk the box [4] on a stride grid (centres
    inside the image)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    xs = np.arange(max(x0, 0.0), min(x1, width - 1) + 1e-6, stride)
    ys = np.arange(max(y0, 0.0), min(y1, height - 1) + 1e-6, stride)
    return [(int(round(x - side / 2)), int(round(y - side / 2))) for y in ys for x in xs]


def covered(keypoints: np.ndarray, corner: tuple[int, int], side: int) -> np.ndarray:
    """Which keypoints [J, 2] (pixels) the square at corner covers: bool [J]."""
    x0, y0 = corner
    kp = np.asarray(keypoints)
    return (kp[:, 0] >= x0) & (kp[:, 0] < x0 + side) & (kp[:, 1] >= y0) & (kp[:, 1] < y0 + side)


@dataclass
class Attack:
    """The worst square found for one method and image."""

    corner: tuple[int, int]
    mpjpe: float  # mm, all common joints, at the worst position
    pa_mpjpe: float
    selection_error: float  # mm on the joints left visible: what chose the position
    missed: bool  # the method found nobody at that position
    positions: int  # positions tried


def worst_position(method: Method, image: np.ndarray, K: np.ndarray, box: np.ndarray,
                   truth: np.ndarray, keypoints: np.ndarray, square: np.ndarray,
                   stride: int, batch: int = 64) -> Attack:
    """Slide the square over the person (stride px) and keep the position where the method
    errs most on the joints the square leaves visible; a miss counts as the worst case.

    truth, keypoints: the person's common joints [12, 3] (metres) and their pixels [12, 2].
    """
    h, w = image.shape[:2]
    side = square.shape[0]
    corners = grid_corners(box, side, stride, w, h)
    best: Attack | None = None
    for start in range(0, len(corners), batch):
        chunk = corners[start:start + batch]
        preds = method([with_square(image, square, c) for c in chunk], K, box)
        for corner, pred in zip(chunk, preds, strict=True):
            free = ~covered(keypoints, corner, side)
            missed = not np.isfinite(pred).all()
            chosen = np.inf if missed else pose_errors(pred, truth, free if free.any()
                                                       else None)[0]
            if best is None or chosen > best.selection_error:
                mpjpe, pa = pose_errors(pred, truth)
                best = Attack(corner, mpjpe, pa, chosen, missed, len(corners))
    assert best is not None, "the box holds no grid position"
    return best
