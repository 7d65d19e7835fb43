"""BlazePose GHUM landmarks of people in ROIs: 2D joints with visibility, metric world
joints, a person mask, and the ROI to follow each person into the next frame.

The model (MediaPipe's ``pose_landmark_full``, Apache-2.0; models/README.md) takes a
256 x 256 RGB ROI in [0, 1] and returns, per its published model card and graph:
39 landmarks x (x, y, z, visibility logit, presence logit) in ROI pixels (33 body points
and 6 auxiliary ones, of which 33 and 34 are the alignment points: hip centre and a point
above the head), a pose-presence score (already a probability), a 256 x 256 segmentation
logit map, 64 x 64 heatmaps, and 39 world landmarks in metres about the hip centre (axes of
the ROI: x right, y down, z away from the camera).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from nbf_ros.vision.frontend.roi import Roi, concat_rois, rois_from_alignment, sample_rois
from nbf_ros.vision.frontend.runtime import ModelRunner

__all__ = ["LANDMARK_NAMES", "LandmarkModel", "PersonLandmarks", "concat_landmarks", "frame_tensor",
           "landmark_boxes"]

ROI_SIZE = 256  # the landmark model's input side
NUM_BODY = 33  # body landmarks; 6 auxiliary ones follow
HIP_CENTRE, HEAD_TOP = 33, 34  # the alignment points among the auxiliary landmarks

LANDMARK_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb",
    "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


@dataclass
class PersonLandmarks:
    """The landmark model's reading of N ROIs (image pixels, the person's own left/right)."""

    roi: Roi  # the ROIs read
    xy: np.ndarray  # [N, 33, 2] body landmarks, image pixels
    visibility: np.ndarray  # [N, 33] chance each is in view (not hidden), in [0, 1]
    presence: np.ndarray  # [N, 33] chance each lies inside the image, in [0, 1]
    score: np.ndarray  # [N] chance the ROI holds a person
    world: np.ndarray  # [N, 33, 3] metres about the hip centre, camera axes (x right, y down)
    mask: np.ndarray  # [N, 256, 256] person probability over each ROI's pixels
    next_roi: Roi  # where each person is expected in the next frame (alignment points)

    def __len__(self) -> int:
        return len(self.score)

    def index(self, idx: list[int] | np.ndarray) -> PersonLandmarks:
        """The people selected by ``idx``."""
        return PersonLandmarks(self.roi.index(idx), self.xy[idx], self.visibility[idx],
                               self.presence[idx], self.score[idx], self.world[idx],
                               self.mask[idx], self.next_roi.index(idx))

    def boxes(self) -> np.ndarray:  # [N, 4]
        """Boxes around each person's body landmarks (landmark_boxes)."""
        return landmark_boxes(self.xy)


def landmark_boxes(xy: np.ndarray) -> np.ndarray:  # [N, L, 2] -> [N, 4]
    """Boxes x0, y0, x1, y1 around each person's landmarks [N, L, 2], grown by a margin for
    the head top and the feet below the ankles. Points outside the image count (clip to it
    where needed): a person cut by the frame's edge reaches that edge, as a person's box in
    labelled data does."""
    if not len(xy):
        return np.zeros((0, 4))
    lo, hi = xy.min(1), xy.max(1)  # [N, 2]
    pad = 0.08 * (hi - lo).max(1)
    return np.stack((lo[:, 0] - pad, lo[:, 1] - 2 * pad, hi[:, 0] + pad, hi[:, 1] + pad), 1)


class LandmarkModel:
    """BlazePose's landmark model over ROIs of a frame."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.runner = ModelRunner(path, threads)
        shape = self.runner.input_shape
        if shape[1:] != (ROI_SIZE, ROI_SIZE, 3):
            raise ValueError(f"{Path(path).name}: expected a {ROI_SIZE} x {ROI_SIZE} RGB "
                             f"landmark model, got input shape {shape}")

    def __call__(self, image: Tensor, roi: Roi) -> PersonLandmarks:
        """Landmarks in the ROIs of a frame [3, H, W] in [0, 1]."""
        n = len(roi)
        if n == 0:
            return _empty(roi)
        crops = sample_rois(image, roi, ROI_SIZE).permute(0, 2, 3, 1).cpu().numpy()
        raw, flag, seg, _heat, world = self.runner(crops)
        pts = raw.reshape(n, -1, 5)
        xy = roi.to_image(pts[:, :, :2], ROI_SIZE)
        # World landmarks come in the ROI's axes; a rotated ROI turns them back about z.
        w = world.reshape(n, -1, 3)[:, :NUM_BODY]
        w_xy = roi.rotate_to_image(w[..., :2])
        world_cam = np.concatenate((w_xy, w[..., 2:]), -1)
        return PersonLandmarks(
            roi=roi, xy=xy[:, :NUM_BODY], visibility=_sigmoid(pts[:, :NUM_BODY, 3]),
            presence=_sigmoid(pts[:, :NUM_BODY, 4]), score=flag.reshape(n).astype(np.float64),
            world=world_cam, mask=_sigmoid(seg.reshape(n, ROI_SIZE, ROI_SIZE)),
            next_roi=rois_from_alignment(xy[:, HIP_CENTRE], xy[:, HEAD_TOP]))


def _empty(roi: Roi) -> PersonLandmarks:
    """Landmarks of no people."""
    return PersonLandmarks(roi, np.zeros((0, NUM_BODY, 2)), np.zeros((0, NUM_BODY)),
                           np.zeros((0, NUM_BODY)), np.zeros(0), np.zeros((0, NUM_BODY, 3)),
                           np.zeros((0, ROI_SIZE, ROI_SIZE)), roi)


def frame_tensor(rgb: np.ndarray) -> Tensor:  # [H, W, 3] uint8 -> [3, H, W]
    """An RGB uint8 frame as a float tensor in [0, 1] (CPU)."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0


def concat_landmarks(parts: list[PersonLandmarks]) -> PersonLandmarks:
    """One reading of the people of several (at least one)."""
    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    return PersonLandmarks(concat_rois([p.roi for p in parts]), cat("xy"), cat("visibility"),
                           cat("presence"), cat("score"), cat("world"), cat("mask"),
                           concat_rois([p.next_roi for p in parts]))
