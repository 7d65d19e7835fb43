"""The record every dataset loader returns: one person in one image, in the camera frame.

Frames and units. The camera frame is OpenCV's (x right, y down, z forward, metres); pixels
are (x, y) with the origin at the top-left corner of the image. ``K`` maps camera-frame
points to pixels: ``u ~ K @ p``.

Pose. ``pose`` holds SMPL's 24 local joint rotations (``R @ x`` convention), root first; the
root rotation is expressed in the camera frame (what smplx calls ``global_orient`` when the
body is posed directly in camera coordinates).

Translation. SMPL rotates the body about its rest pelvis ``J0``, a point that depends on the
betas and sits about 0.2 m below the model origin, so two different vectors are called
"translation" in practice:

* ``translation``: the camera-frame position of the posed pelvis (SMPL joint 0). This is the
  convention of ``nbf_ros.body.base.BodyModel`` (pelvis-centred bodies).
* ``smpl_transl``: the ``transl`` argument of smplx.SMPL: the body evaluated with
  ``global_orient=pose[0]``, ``body_pose=pose[1:]``, ``betas`` and ``transl=smpl_transl``
  lands in the camera frame.

They differ by the rest pelvis: ``translation = smpl_transl + J0(betas)``. A format usually
gives one of them without a body model; the other is None until ``with_rest_pelvis`` is
called with ``J0 = J_regressor[0] @ (v_template + shapedirs @ betas)`` of the gendered model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DatasetFormatError", "PersonAnnotation"]

GENDERS: tuple[str, ...] = ("male", "female", "neutral")


class DatasetFormatError(ValueError):
    """A dataset file that does not follow its published format; the message says where."""


@dataclass(eq=False)
class PersonAnnotation:
    """One annotated person in one image; arrays are float64 unless stated."""

    dataset: str  # "3dpw", "eft"
    image_path: Path  # the image is not loaded; see images.load_image
    sequence: str  # 3DPW: sequence name; EFT: image file stem
    person_id: int  # 3DPW: actor index in the sequence; EFT: COCO annotId (0 if absent)
    frame_index: int  # 3DPW: image frame; EFT: index of the entry in the json "data" list
    K: np.ndarray  # [3, 3] intrinsics (a convention where intrinsics_known is False)
    intrinsics_known: bool  # False where K is a convention, not a calibration
    pose: np.ndarray  # [24, 3, 3] SMPL local rotations, root in the camera frame
    betas: np.ndarray  # [10] SMPL shape coefficients
    gender: str  # "male", "female" or "neutral": which SMPL model the fit used
    translation: np.ndarray | None  # [3] camera-frame pelvis position (see module docstring)
    smpl_transl: np.ndarray | None  # [3] smplx ``transl`` in the camera frame
    joints_cam: np.ndarray | None  # [24, 3] camera-frame SMPL joints, where the format has them
    keypoints: np.ndarray  # [J, 3] pixel x, y and confidence (0 = not annotated)
    keypoint_names: tuple[str, ...]  # J names, the order of ``keypoints``
    box: np.ndarray | None  # [4] x0, y0, x1, y1 pixels; None without 2 usable points
    valid: bool  # the format's own validity flag (3DPW: campose_valid)
    meta: dict[str, Any] = field(default_factory=dict)  # format-specific raw values

    def __post_init__(self) -> None:
        """Refuse a record whose arrays do not have the documented shapes."""
        _check_shape("K", self.K, (3, 3))
        _check_shape("pose", self.pose, (24, 3, 3))
        _check_shape("betas", self.betas, (10,))
        _check_shape("translation", self.translation, (3,))
        _check_shape("smpl_transl", self.smpl_transl, (3,))
        _check_shape("joints_cam", self.joints_cam, (24, 3))
        _check_shape("keypoints", self.keypoints, (len(self.keypoint_names), 3))
        _check_shape("box", self.box, (4,))
        if self.gender not in GENDERS:
            raise ValueError(f"gender: expected one of {GENDERS}, got {self.gender!r}")

    def with_rest_pelvis(self, rest_pelvis: np.ndarray) -> PersonAnnotation:
        """A copy with both translations filled, given the shaped rest pelvis J0 [3]."""
        j0 = np.asarray(rest_pelvis, dtype=np.float64)
        _check_shape("rest_pelvis", j0, (3,))
        if self.translation is not None:
            return dataclasses.replace(self, smpl_transl=self.translation - j0)
        if self.smpl_transl is not None:
            return dataclasses.replace(self, translation=self.smpl_transl + j0)
        return dataclasses.replace(self)


def _check_shape(name: str, value: np.ndarray | None, shape: tuple[int, ...]) -> None:
    """Raise ValueError unless ``value`` is None or an array of ``shape``."""
    if value is None:
        return
    if not isinstance(value, np.ndarray) or value.shape != shape:
        got = value.shape if isinstance(value, np.ndarray) else type(value).__name__
        raise ValueError(f"PersonAnnotation.{name}: expected an array of shape {shape}, "
                         f"got {got}")
