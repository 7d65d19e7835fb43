"""Body pose state shared by the fitter, the tracker and the messages."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nbf_ros.body.rotations import axis_angle_to_matrix

__all__ = ["BodyState", "FitResult"]


@dataclass
class BodyState:
    """Pose and shape of B bodies in the camera frame."""

    rotations: Tensor  # [B, J, 3, 3] local rotations, root first (canonical body frame)
    translation: Tensor  # [B, 3] pelvis position, metres, camera frame
    shape: Tensor  # [B, S] shape coefficients

    @property
    def batch(self) -> int:
        """Number of bodies B."""
        return self.translation.shape[0]

    def detach(self) -> BodyState:
        """A copy cut from the autograd graph."""
        return BodyState(self.rotations.detach(), self.translation.detach(), self.shape.detach())

    def to(self, device: torch.device | str) -> BodyState:
        """The same bodies with tensors on ``device``."""
        return BodyState(self.rotations.to(device), self.translation.to(device),
                         self.shape.to(device))

    def index(self, idx: Tensor | slice | list[int]) -> BodyState:
        """The bodies selected by ``idx``."""
        return BodyState(self.rotations[idx], self.translation[idx], self.shape[idx])

    @staticmethod
    def facing_camera(
        translation: Tensor, num_joints: int, num_shape: int  # [B, 3]
    ) -> BodyState:
        """Rest pose, upright in the image and facing the camera, at the given positions."""
        batch = translation.shape[0]
        # Body +Y (up) -> camera -y (up in the image); body +Z (front) -> camera -z.
        flip = axis_angle_to_matrix(translation.new_tensor([torch.pi, 0.0, 0.0]))
        rot = torch.eye(3, device=translation.device).repeat(batch, num_joints, 1, 1)
        rot[:, 0] = flip
        return BodyState(rot, translation.clone(), translation.new_zeros(batch, num_shape))


@dataclass
class FitResult:
    """Outcome of fitting B bodies (the best hypothesis of each)."""

    state: BodyState
    joints: Tensor  # [B, J, 3] metres, camera frame
    joint_visibility: Tensor  # [B, J] probability the joint is not hidden by an occluder
    occlusion: Tensor  # [B, H, W] probability each crop pixel of the body is occluded
    foreground: Tensor  # [B, H, W] body coverage of each crop pixel
    loss: Tensor  # [B] final objective
    iterations: Tensor  # [B] long, steps taken
    converged: Tensor  # [B] bool, stopped because the loss stopped improving
    hypothesis: Tensor  # [B] long, index of the winning hypothesis

    def index(self, idx: Tensor | slice | list[int]) -> FitResult:
        """The results of the bodies selected by ``idx``."""
        return FitResult(self.state.index(idx), self.joints[idx], self.joint_visibility[idx],
                         self.occlusion[idx], self.foreground[idx], self.loss[idx],
                         self.iterations[idx], self.converged[idx], self.hypothesis[idx])
