"""Compact articulated body: surface points and joints with a linear shape space and LBS.

This is what fitting runs on: a few hundred surface points (the Neural Body Volume's
kernel centres) and the SMPL-24 joints, articulated with linear blend skinning and shaped
by a linear basis, like SMPL without pose correctives (Loper et al., 2015). Every full body
model (Anny, SMPL) exports one, so the fitter, the GPU code and the saved model files never
need the full mesh or the body model's package.

Convention: canonical body frame in metres, +Y up, +Z the way the body faces, +X towards
the body's left; the pelvis joint is at the origin for every shape, so the root
translation *is* the pelvis position. Local rotations are relative to the rest pose and
expressed in the canonical frame (SMPL's convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["CompactBody", "CompactBodyOutput", "kinematic_levels"]


@dataclass
class CompactBodyOutput:
    """Posed points and joints of a CompactBody."""

    points: Tensor  # [B, N, 3] posed surface points, metres
    joints: Tensor  # [B, J, 3] posed joints, metres
    rotations: Tensor  # [B, J, 3, 3] global rotation of each joint's bone


def kinematic_levels(parents: list[int] | tuple[int, ...]) -> list[list[int]]:
    """Joint indices grouped by depth in the tree, root level first."""
    depth = [0] * len(parents)
    for j, p in enumerate(parents):
        if p >= j and p != -1:
            raise ValueError(f"parents must list a parent before its child; joint {j} has {p}")
        depth[j] = 0 if p < 0 else depth[p] + 1
    return [[j for j in range(len(parents)) if depth[j] == d] for d in range(max(depth) + 1)]


class CompactBody(nn.Module):
    """Linear-shape, linear-blend-skinned point set with a joint tree (all tensors buffers)."""

    def __init__(
        self,
        name: str,
        joint_names: list[str] | tuple[str, ...],
        parents: list[int] | tuple[int, ...],
        joint_template: np.ndarray | Tensor,  # [J, 3]
        joint_shapedirs: np.ndarray | Tensor,  # [J, 3, S]
        point_template: np.ndarray | Tensor,  # [N, 3]
        point_shapedirs: np.ndarray | Tensor,  # [N, 3, S]
        weights: np.ndarray | Tensor,  # [N, J] skinning weights, rows sum to 1
        shape_names: list[str] | tuple[str, ...],
    ) -> None:
        super().__init__()
        as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        self.name = name
        self.joint_names = tuple(joint_names)
        self.parents = tuple(int(p) for p in parents)
        self.shape_names = tuple(shape_names)
        self.levels = kinematic_levels(self.parents)
        jt, jsd, pt, psd, w = map(as_t, (joint_template, joint_shapedirs, point_template,
                                         point_shapedirs, weights))
        num_j, num_n, num_s = jt.shape[0], pt.shape[0], len(self.shape_names)
        expected = {
            "joint_template": (jt, (num_j, 3)), "joint_shapedirs": (jsd, (num_j, 3, num_s)),
            "point_template": (pt, (num_n, 3)), "point_shapedirs": (psd, (num_n, 3, num_s)),
            "weights": (w, (num_n, num_j)),
        }
        for arg, (t, shape) in expected.items():
            if tuple(t.shape) != shape:
                raise ValueError(f"{arg}: expected shape {shape}, got {tuple(t.shape)}")
        if len(self.parents) != num_j or len(self.joint_names) != num_j:
            raise ValueError(f"parents and joint_names need {num_j} entries")
        if not torch.allclose(w.sum(1), torch.ones(num_n), atol=1e-4):
            raise ValueError("weights: every row must sum to 1")
        self.register_buffer("joint_template", jt)
        self.register_buffer("joint_shapedirs", jsd)
        self.register_buffer("point_template", pt)
        self.register_buffer("point_shapedirs", psd)
        self.register_buffer("weights", w)
        self.register_buffer("parent_index", torch.tensor([max(p, 0) for p in self.parents]))
        # Index tensors of each tree level live on the module's device: no copies per call.
        for i, level in enumerate(self.levels):
            self.register_buffer(f"_level{i}", torch.tensor(level), persistent=False)

    @property
    def num_points(self) -> int:
        """Number of surface points N."""
        return self.point_template.shape[0]

    @property
    def num_joints(self) -> int:
        """Number of joints J."""
        return self.joint_template.shape[0]

    @property
    def num_shape(self) -> int:
        """Number of shape coefficients S."""
        return len(self.shape_names)

    def rest(self, shape: Tensor) -> tuple[Tensor, Tensor]:  # [B, S] -> [B, N, 3], [B, J, 3]
        """Rest-pose points and joints for each shape, pelvis at the origin."""
        joints = self.joint_template + torch.einsum("jcs,bs->bjc", self.joint_shapedirs, shape)
        points = self.point_template + torch.einsum("ncs,bs->bnc", self.point_shapedirs, shape)
        pelvis = joints[:, :1]
        return points - pelvis, joints - pelvis

    @torch.no_grad()
    def mean_rest(self) -> tuple[Tensor, Tensor]:  # -> [N, 3], [J, 3]
        """Rest-pose points and joints of the mean shape, pelvis at the origin."""
        points, joints = self.rest(self.joint_template.new_zeros(1, self.num_shape))
        return points[0], joints[0]

    def forward(
        self,
        rotations: Tensor,  # [B, J, 3, 3] local rotations, index 0 = root orientation
        translation: Tensor,  # [B, 3] pelvis position
        shape: Tensor | None = None,  # [B, S] or None for the mean shape
    ) -> CompactBodyOutput:
        """Pose the points and joints."""
        batch = rotations.shape[0]
        if shape is None:
            shape = rotations.new_zeros(batch, self.num_shape)
        rest_points, rest_joints = self.rest(shape)
        # 1. Bone offsets from parent joint in the rest pose: [B, J, 3].
        offsets = rest_joints - rest_joints[:, self.parent_index]
        # 2. Forward kinematics level by level (a handful of batched ops instead of J).
        glob_rot = [None] * self.num_joints
        glob_pos = [None] * self.num_joints
        glob_rot[0], glob_pos[0] = rotations[:, 0], rest_joints.new_zeros(batch, 3)
        for depth, level in enumerate(self.levels[1:], start=1):
            idx = getattr(self, f"_level{depth}")
            par = [self.parents[j] for j in level]
            par_rot = torch.stack([glob_rot[p] for p in par], 1)  # [B, L, 3, 3]
            par_pos = torch.stack([glob_pos[p] for p in par], 1)  # [B, L, 3]
            rot = par_rot @ rotations[:, idx]
            pos = par_pos + (par_rot @ offsets[:, idx, :, None])[..., 0]
            for i, j in enumerate(level):
                glob_rot[j], glob_pos[j] = rot[:, i], pos[:, i]
        rot_all = torch.stack(glob_rot, 1)  # [B, J, 3, 3]
        pos_all = torch.stack(glob_pos, 1)  # [B, J, 3]
        # 3. Skinning: x' = sum_j w_j (R_j (x - J_j) + t_j), blended as 3x4 matrices.
        trans = pos_all - (rot_all @ rest_joints[..., None])[..., 0]  # [B, J, 3]
        mats = torch.cat((rot_all, trans[..., None]), -1).flatten(2)  # [B, J, 12]
        blended = torch.einsum("nj,bjk->bnk", self.weights, mats).unflatten(-1, (3, 4))
        points = (blended[..., :3] @ rest_points[..., None])[..., 0] + blended[..., 3]
        offset = translation[:, None, :]
        return CompactBodyOutput(points=points + offset, joints=pos_all + offset,
                                 rotations=rot_all)

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that rebuild this body with ``from_state`` (for saving in model files)."""
        return {
            "name": np.array(self.name), "joint_names": np.array(self.joint_names),
            "parents": np.array(self.parents), "shape_names": np.array(self.shape_names),
            **{k: getattr(self, k).cpu().numpy() for k in (
                "joint_template", "joint_shapedirs", "point_template", "point_shapedirs",
                "weights")},
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> CompactBody:
        """Rebuild a CompactBody from ``state()`` arrays."""
        return cls(
            name=str(state["name"]), joint_names=[str(n) for n in state["joint_names"]],
            parents=[int(p) for p in state["parents"]],
            joint_template=state["joint_template"], joint_shapedirs=state["joint_shapedirs"],
            point_template=state["point_template"], point_shapedirs=state["point_shapedirs"],
            weights=state["weights"], shape_names=[str(n) for n in state["shape_names"]],
        )
