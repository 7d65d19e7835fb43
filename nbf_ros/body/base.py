"""The interface every full body model implements (Anny, SMPL)."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from nbf_ros.body.compact import CompactBody
from nbf_ros.body.joints import SMPL24_NAMES, SMPL24_PARENTS

__all__ = ["BodyModel", "BodyOutput", "barycentric_interpolate", "vertex_normals"]


@dataclass
class BodyOutput:
    """Posed full mesh and SMPL-24 joints, canonical frame conventions of ``compact.py``."""

    vertices: Tensor  # [B, V, 3] metres
    joints: Tensor  # [B, J, 3] metres, SMPL-24 order
    rotations: Tensor  # [B, J, 3, 3] global rotation of each SMPL-24 joint's bone


def barycentric_interpolate(
    vertices: Tensor,  # [B, V, 3]
    faces: Tensor,  # [F, 3] long
    face_index: Tensor,  # [N] long
    barycentric: Tensor,  # [N, 3] rows sum to 1
) -> Tensor:  # [B, N, 3]
    """Points on the mesh surface given by face index and barycentric coordinates."""
    corners = vertices[:, faces[face_index]]  # [B, N, 3, 3]
    return (corners * barycentric[None, :, :, None]).sum(2)


def vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:  # [V, 3], [F, 3] -> [V, 3]
    """Area-weighted unit vertex normals (outward for counter-clockwise faces)."""
    tri = vertices[faces]
    n = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    out = torch.zeros_like(vertices).index_add_(0, faces.reshape(-1), n.repeat_interleave(3, 0))
    return torch.nn.functional.normalize(out, dim=-1)


class BodyModel(nn.Module, abc.ABC):
    """A batched, differentiable body model with SMPL-24 joints, float32.

    Pose is given SMPL-style whatever the model: one local rotation per SMPL-24 joint,
    relative to the rest pose, in the canonical body frame (+Y up, +Z front, +X left),
    root first; translation is the pelvis position. Shape is a vector of ``num_shape``
    coefficients, zero for the model's mean body.
    """

    name: str = "body"
    joint_names: tuple[str, ...] = SMPL24_NAMES
    parents: tuple[int, ...] = SMPL24_PARENTS
    shape_names: tuple[str, ...] = ()
    faces: Tensor  # [F, 3] long buffer

    @property
    def num_shape(self) -> int:
        """Number of shape coefficients S."""
        return len(self.shape_names)

    @abc.abstractmethod
    def forward(
        self,
        rotations: Tensor,  # [B, 24, 3, 3] local rotations, root first
        translation: Tensor,  # [B, 3] pelvis position, metres
        shape: Tensor | None = None,  # [B, S]; None = mean shape
    ) -> BodyOutput:
        """Posed mesh and joints."""

    @abc.abstractmethod
    def rest_vertices(self, shape: Tensor) -> Tensor:  # [B, S] -> [B, V, 3]
        """Rest-pose mesh vertices, pelvis at the origin."""

    @abc.abstractmethod
    def export_compact(
        self, face_index: np.ndarray, barycentric: np.ndarray  # [N], [N, 3]
    ) -> CompactBody:
        """A CompactBody whose points follow the given surface points of this model."""

    def zero_pose(self, batch: int = 1) -> tuple[Tensor, Tensor]:
        """Identity rotations [B, 24, 3, 3] and zero translation [B, 3] on the model's device."""
        ref = self.faces
        eye = torch.eye(3, device=ref.device).expand(batch, len(self.joint_names), 3, 3)
        return eye.clone(), torch.zeros(batch, 3, device=ref.device)
