"""One person's 3D body estimate (or ground truth) as plain numpy: what the pipeline returns,
what synthetic data stores as truth, and what becomes a HumanPose message."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from nbf_ros.body.joints import SMPL24_NAMES

__all__ = ["HumanEstimate", "JointState"]


class JointState(IntEnum):
    """Hard per-joint state; values are HumanPose.msg's JOINT_* constants."""

    VISIBLE = 0
    OCCLUDED = 1
    OUTSIDE_IMAGE = 2
    UNKNOWN = 255


@dataclass
class HumanEstimate:
    """A person in one camera image: joints, visibility and body-model parameters.

    3D quantities are in the camera optical frame (+x right, +y down, +z forward), metres;
    2D quantities in pixels of the input image. Rotations are 3 x 3 matrices here and
    quaternions only in messages.
    """

    joints: np.ndarray  # [J, 3] float
    joint_visibility: np.ndarray  # [J] probability the joint is seen, in [0, 1]
    joint_state: np.ndarray  # [J] uint8, JointState values
    keypoints_2d: np.ndarray  # [J, 2] pixels (column, row)
    root_translation: np.ndarray  # [3] pelvis position
    root_rotation: np.ndarray  # [3, 3] body canonical frame -> camera frame
    bone_rotations: np.ndarray  # [J - 1, 3, 3] local rotations of joints 1.. (root excluded)
    shape: np.ndarray  # [S] body-model shape coefficients
    roi: np.ndarray  # [4] box (x0, y0, x1, y1) in image pixels
    track_id: int = 0
    confidence: float = 1.0
    joint_confidence: np.ndarray | None = None  # [J]; None = joint_visibility-independent 1
    body_model: str = "anny"
    joint_names: tuple[str, ...] = SMPL24_NAMES
    shape_names: tuple[str, ...] = ()
    occluded_fraction: float = 0.0
    fit_loss: float = 0.0
    iterations: int = 0
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # not part of the message

    def __post_init__(self) -> None:
        num_j = len(self.joint_names)
        expected = {
            "joints": (num_j, 3), "joint_visibility": (num_j,), "joint_state": (num_j,),
            "keypoints_2d": (num_j, 2), "root_translation": (3,), "root_rotation": (3, 3),
            "bone_rotations": (num_j - 1, 3, 3), "roi": (4,),
        }
        for name, shape in expected.items():
            value = np.asarray(getattr(self, name))
            if value.shape != shape:
                raise ValueError(f"HumanEstimate.{name}: expected shape {shape}, "
                                 f"got {value.shape}")
        if self.joint_confidence is not None and np.shape(self.joint_confidence) != (num_j,):
            raise ValueError(f"HumanEstimate.joint_confidence: expected shape ({num_j},), "
                             f"got {np.shape(self.joint_confidence)}")
        if self.shape_names and len(self.shape_names) != len(self.shape):
            raise ValueError(f"HumanEstimate: {len(self.shape_names)} shape names for "
                             f"{len(self.shape)} shape coefficients")

    @property
    def bone_names(self) -> tuple[str, ...]:
        """Names of the bones in ``bone_rotations`` (every joint but the root)."""
        return self.joint_names[1:]

    @property
    def num_joints(self) -> int:
        """Number of joints J."""
        return len(self.joint_names)
