"""Per-joint visibility ground truth of synthetic scenes."""

from __future__ import annotations

from enum import IntEnum

import torch
from torch import Tensor

from nbf_ros.estimate import JointState
from nbf_ros.synth.mesh import BodyMesh

__all__ = ["JointLabel", "joint_labels", "label_to_state"]

# A joint counts as seen when the surface at its pixel is this close to it (metres), or
# belongs to one of the bones that meet at the joint.
_NEAR_SURFACE = 0.12


class JointLabel(IntEnum):
    """Why a joint is or is not seen in a synthetic image."""

    VISIBLE = 0
    OCCLUDED = 1  # behind an occluder or another person
    OUTSIDE = 2  # projects outside the image (or behind the camera)
    SELF_OCCLUDED = 3  # behind another part of the same body


def label_to_state(labels: Tensor) -> Tensor:
    """HumanPose joint_state of each label: self-occlusion is not occlusion by another
    object, so it counts as visible (the message's definition)."""
    table = torch.tensor([JointState.VISIBLE, JointState.OCCLUDED, JointState.OUTSIDE_IMAGE,
                          JointState.VISIBLE], dtype=torch.uint8)
    return table[labels.long()]


def joint_labels(
    joints: Tensor,  # [P, J, 3] camera frame
    K: Tensor,  # [3, 3]
    person: Tensor,  # [H, W] long, person shown (-1 background or occluder)
    surface: Tensor,  # [H, W, 3] visible surface point of each pixel
    vertex: Tensor,  # [H, W] long, mesh vertex nearest that point (per-person index)
    mesh: BodyMesh,
    depth: Tensor,  # [H, W] depth of the visible surface (inf where none)
    occluder: Tensor,  # [H, W] bool
) -> Tensor:  # [P, J] uint8
    """JointLabel of every joint of every person, read at the joint's pixel."""
    h, w = person.shape
    num_p, num_j, _ = joints.shape
    uv = joints @ K.T
    z = joints[..., 2]
    u = (uv[..., 0] / uv[..., 2].clamp_min(1e-6)).floor().long()
    v = (uv[..., 1] / uv[..., 2].clamp_min(1e-6)).floor().long()
    inside = (z > 0.05) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    uc, vc = u.clamp(0, w - 1), v.clamp(0, h - 1)
    shown = person[vc, uc]  # [P, J]
    own = shown == torch.arange(num_p)[:, None]
    near = (surface[vc, uc] - joints).norm(dim=-1) < _NEAR_SURFACE
    # Bones meeting at each joint: the joint's own bone, its parent's and its children's.
    parents = mesh.body.parents
    adjacent = torch.eye(num_j, dtype=torch.bool)
    for j, p in enumerate(parents):
        if p >= 0:
            adjacent[j, p] = adjacent[p, j] = True
    hit_joint = mesh.vertex_joint[vertex[vc, uc]]  # [P, J]
    on_bone = adjacent[torch.arange(num_j)[None, :].expand(num_p, -1), hit_joint]
    covered = occluder[vc, uc] | ((shown >= 0) & ~own & (depth[vc, uc] < z))
    label = torch.full((num_p, num_j), JointLabel.VISIBLE, dtype=torch.uint8)
    label[own & ~(near | on_bone)] = JointLabel.SELF_OCCLUDED
    label[covered] = JointLabel.OCCLUDED
    label[~inside] = JointLabel.OUTSIDE
    return label
