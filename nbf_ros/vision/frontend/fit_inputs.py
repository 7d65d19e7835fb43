"""Landmark evidence into the fit's inputs: keypoints on the crops' feature grid, and a start
turned and placed by the landmarks (3DNBF's objective has the same 2D keypoint term, from
OpenPose; here the keypoints come from BlazePose, and its world landmarks turn the start)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.fitting.state import BodyState
from nbf_ros.nbv.camera import CropCamera
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.vision.frontend.body_evidence import TORSO, body_keypoints, torso_rotation
from nbf_ros.vision.frontend.landmark_pose import landmark_pose
from nbf_ros.vision.frontend.landmarks import ROI_SIZE, PersonLandmarks
from nbf_ros.vision.network import STRIDE
from nbf_ros.vision.readout import CropReadout, solve_translation

__all__ = ["LANDMARK_STARTS", "crop_cells", "mask_on_cells", "placed_on_keypoints",
           "with_landmarks"]

# Where a fit with landmarks starts (with_landmarks).
LANDMARK_STARTS = ("pose", "root", "regression")


def crop_cells(xy: np.ndarray, crop_box: np.ndarray, crop_size: int) -> np.ndarray:
    """Image pixels [N, J, 2] to each crop's feature-grid cells (crop boxes [N, 4] resampled
    to ``crop_size``, one cell per STRIDE crop pixels)."""
    side = crop_box[:, 2:] - crop_box[:, :2]
    return (xy - crop_box[:, None, :2]) / side[:, None] * (crop_size / STRIDE)


def mask_on_cells(lm: PersonLandmarks, crop_box: np.ndarray, height: int, width: int
                  ) -> Tensor:  # [N, height * width]
    """Each person's mask (over its landmark ROI) sampled at the centres of its crop's
    feature cells (crop boxes [N, 4] of height x width cells), row-major; 0 off the ROI."""
    n = len(lm)
    v, u = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width,
                       indexing="ij")
    size = crop_box[:, 2:] - crop_box[:, :2]  # [N, 2]
    xy = crop_box[:, None, :2] + np.stack((u.ravel(), v.ravel()), -1)[None] * size[:, None]
    roi_px = lm.roi.from_image(xy, ROI_SIZE) / ROI_SIZE * 2.0 - 1.0  # [N, P, 2] in [-1, 1]
    grid = torch.as_tensor(roi_px, dtype=torch.float32)[:, None]  # [N, 1, P, 2]
    mask = torch.as_tensor(lm.mask, dtype=torch.float32)[:, None]  # [N, 1, 256, 256]
    out = F.grid_sample(mask, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(n, height * width)


@torch.no_grad()
def with_landmarks(read: CropReadout, lm: PersonLandmarks, crop_box: Tensor,  # [N, 4]
                   crop_size: int, volume: NeuralBodyVolume, start: str = "pose"
                   ) -> CropReadout:
    """A readout whose keypoints are the landmarks', whose person prior is their mask, and
    whose start is placed on them: the world landmarks' pose (``start`` "pose"), the
    regressed pose turned by their torso ("root") or the regressed pose as it is
    ("regression"). The regression head's own joints stay as they were (its estimate, not
    the start)."""
    if start not in LANDMARK_STARTS:
        raise ValueError(f"start must be one of {', '.join(LANDMARK_STARTS)}, got {start!r}")
    dev = read.features.device
    body = volume.body
    xy, conf = body_keypoints(lm, body.joint_names)
    cells = crop_cells(xy, crop_box.cpu().numpy().astype(np.float64), crop_size)
    kp = torch.as_tensor(cells, dtype=torch.float32, device=dev)
    cf = torch.as_tensor(conf, dtype=torch.float32, device=dev)
    given = read.regression
    zeros = torch.zeros_like(given.translation)
    if start == "pose":
        rot = landmark_pose(body, lm, given.shape).to(given.rotations.dtype)
    else:
        rot = given.rotations.clone()
    if start == "root":
        upright = rot.clone()
        upright[:, 0] = torch.eye(3, device=dev)
        local = body(upright, zeros, given.shape).joints
        idx = [body.joint_names.index(name) for name in TORSO]
        turn = torso_rotation(lm, local[:, idx].double().cpu().numpy())
        rot[:, 0] = torch.as_tensor(turn, dtype=rot.dtype, device=dev)
    rel = body(rot, zeros, given.shape).joints
    K = read.camera.K
    # As the readout's own fallback: a 1.7 m person filling 3/4 of the crop height.
    fallback = K[:, 1, 1] * 1.7 / (0.75 * read.camera.height)
    trans = solve_translation(rel, kp, cf, K, fallback)
    prior = mask_on_cells(lm, crop_box.cpu().numpy().astype(np.float64), read.camera.height,
                          read.camera.width).to(dev)
    return replace(read, keypoints=kp, keypoint_confidence=cf,
                   regression=BodyState(rot, trans, given.shape), person_prior=prior)


@torch.no_grad()
def placed_on_keypoints(state: BodyState, keypoints: Tensor,  # [B, J, 2] feature cells
                        confidence: Tensor, camera: CropCamera,  # [B, J]
                        volume: NeuralBodyVolume) -> BodyState:
    """Bodies kept in their pose but moved to where this frame's keypoints put them (least
    squares, solve_translation; where the keypoints cannot say, the depth stays).

    A warm start takes the last frame's body; a walking person has moved on by then, often
    farther than a few small tracking steps can follow (10 cm a frame at 10 fps).
    """
    rel = volume.body(state.rotations, torch.zeros_like(state.translation), state.shape).joints
    fallback = state.translation[:, 2]
    trans = solve_translation(rel, keypoints, confidence, camera.K, fallback)
    return BodyState(state.rotations, trans, state.shape)
