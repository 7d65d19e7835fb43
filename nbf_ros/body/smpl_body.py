"""SMPL behind the BodyModel interface, through smplx, for users who own the model files.

The model arrays come from the user's SMPL pickle (plain arrays, or the official chumpy-based
file, read without chumpy by ``smpl_format``); ``smplx.SMPLLayer`` (smplx.SMPL without member
parameters, rotation-matrix input) does the shape and pose blend shapes and the skinning.

Convention: SMPL's own frame already is the canonical body frame of ``compact.py`` (+Y up,
+Z the way the body faces, +X towards the body's left) and SMPL's pose is the interface's
(local rotation of each joint relative to the rest pose, in that frame, root first). Only the
origin differs: SMPL's rest pelvis sits somewhere below the origin and moves with the betas,
so outputs are shifted to put the pelvis at ``translation`` for every shape and pose. Shape
is SMPL's betas.
"""

from __future__ import annotations

import contextlib
import io
import os

import numpy as np
import smplx
import torch
from smplx.utils import Struct
from torch import Tensor

from nbf_ros.body.base import BodyModel, BodyOutput
from nbf_ros.body.compact import CompactBody
from nbf_ros.body.smpl_format import (
    SMPLFormatError,
    check_smpl_arrays,
    read_smpl_pickle,
    resolve_smpl_path,
)

__all__ = ["SMPLBody"]


class SMPLBody(BodyModel):
    """SMPL (Loper et al., 2015) with pose correctives, pelvis-centred, SMPL-24 joints."""

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        gender: str = "neutral",
        num_betas: int = 10,
    ) -> None:
        """Load ``<model_path>/smpl/SMPL_<GENDER>.pkl``, or ``model_path`` if it is the file."""
        super().__init__()
        gender = gender.lower()
        path = resolve_smpl_path(model_path, gender)
        data = read_smpl_pickle(path)
        check_smpl_arrays(data, path)
        available = data["shapedirs"].shape[-1]
        if not 1 <= num_betas <= available:
            raise SMPLFormatError(
                f"{path}: num_betas={num_betas} but the file has {available} shape components"
            )
        # smplx prints a warning to stdout for files with fewer than 300 shape components
        # (SMPL 1.0 has 10); it carries no information here and would litter the node's log.
        with contextlib.redirect_stdout(io.StringIO()):
            self.smpl = smplx.SMPLLayer(
                model_path=str(path), data_struct=Struct(**data), gender=gender,
                num_betas=num_betas,
            )
        if self.smpl.num_betas != num_betas:
            raise SMPLFormatError(
                f"{path}: smplx kept {self.smpl.num_betas} of the {num_betas} betas asked for"
            )
        # smplx appends face, foot and finger keypoints picked by vertex ids of the official
        # 6890-vertex mesh; only the 24 regressed joints are used, so pick none.
        self.smpl.vertex_joint_selector.extra_joints_idxs = torch.zeros(0, dtype=torch.long)
        self.name = f"smpl-{gender}"
        self.shape_names = tuple(f"beta{i}" for i in range(num_betas))
        self.model_file = path
        self.register_buffer("faces", self.smpl.faces_tensor.clone())

    @property
    def num_vertices(self) -> int:
        """Number of mesh vertices V."""
        return self.smpl.v_template.shape[0]

    def _check(self, name: str, value: Tensor, shape: tuple[int, ...]) -> None:
        """Raise a ValueError naming ``name`` unless it has ``shape``, dtype and device."""
        ref = self.smpl.v_template
        if tuple(value.shape) != shape:
            raise ValueError(f"{name}: expected shape {shape}, got {tuple(value.shape)}")
        if value.dtype != ref.dtype or value.device != ref.device:
            raise ValueError(
                f"{name}: expected {ref.dtype} on {ref.device} like the model, got "
                f"{value.dtype} on {value.device} (move the model with .to())"
            )

    def forward(
        self,
        rotations: Tensor,  # [B, 24, 3, 3] local rotations, root first
        translation: Tensor,  # [B, 3] pelvis position, metres
        shape: Tensor | None = None,  # [B, S] betas; None = mean shape
    ) -> BodyOutput:
        """Posed mesh (with SMPL's pose correctives), joints and global joint rotations."""
        if rotations.ndim != 4:
            raise ValueError(f"rotations: expected shape [B, 24, 3, 3], got "
                             f"{tuple(rotations.shape)}")
        batch = rotations.shape[0]
        self._check("rotations", rotations, (batch, len(self.joint_names), 3, 3))
        self._check("translation", translation, (batch, 3))
        if shape is None:
            shape = rotations.new_zeros(batch, self.num_shape)
        self._check("shape", shape, (batch, self.num_shape))
        out = self.smpl(betas=shape, global_orient=rotations[:, :1],
                        body_pose=rotations[:, 1:], pose2rot=False)
        joints = out.joints[:, : len(self.joint_names)]  # [B, 24, 3]
        # SMPL leaves the posed pelvis at the shaped rest pelvis. Subtracting it before adding
        # the translation makes joints[:, 0] equal ``translation`` bit for bit.
        pelvis = joints[:, :1]
        offset = translation[:, None]
        return BodyOutput(
            vertices=(out.vertices - pelvis) + offset,
            joints=(joints - pelvis) + offset,
            rotations=self._global_rotations(rotations),
        )

    def _global_rotations(self, rotations: Tensor) -> Tensor:  # [B, J, 3, 3] -> [B, J, 3, 3]
        """Global rotation of each joint: the product of local rotations down the tree."""
        glob = [rotations[:, 0]]
        for j in range(1, len(self.parents)):
            glob.append(glob[self.parents[j]] @ rotations[:, j])
        return torch.stack(glob, 1)

    def rest_vertices(self, shape: Tensor) -> Tensor:  # [B, S] -> [B, V, 3]
        """Rest-pose (T-pose) mesh vertices of each shape, pelvis at the origin."""
        if shape.ndim != 2:
            raise ValueError(f"shape: expected shape [B, {self.num_shape}], got "
                             f"{tuple(shape.shape)}")
        self._check("shape", shape, (shape.shape[0], self.num_shape))
        shaped = self.smpl.forward_shape(betas=shape).vertices  # [B, V, 3]
        pelvis = torch.einsum("v,bvc->bc", self.smpl.J_regressor[0], shaped)
        return shaped - pelvis[:, None]

    def export_compact(
        self,
        face_index: np.ndarray,  # [N] triangle of each point
        barycentric: np.ndarray,  # [N, 3] rows sum to 1
    ) -> CompactBody:
        """A CompactBody (no pose correctives) whose points follow these surface points."""
        faces = self.faces.cpu().numpy()
        face_index = np.asarray(face_index)
        bary = np.asarray(barycentric, dtype=np.float64)
        num = face_index.shape[0] if face_index.ndim == 1 else -1
        if num < 0 or not np.issubdtype(face_index.dtype, np.integer):
            raise ValueError(f"face_index: expected integers of shape [N], got "
                             f"{face_index.dtype} {face_index.shape}")
        if num and (face_index.min() < 0 or face_index.max() >= len(faces)):
            raise ValueError(f"face_index: values must lie in 0..{len(faces) - 1}")
        if bary.shape != (num, 3):
            raise ValueError(f"barycentric: expected shape ({num}, 3), got {bary.shape}")
        if (bary < -1e-6).any() or not np.allclose(bary.sum(1), 1.0, atol=1e-4):
            raise ValueError("barycentric: rows must be non-negative and sum to 1")
        as_np = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
        v_template = as_np(self.smpl.v_template)  # [V, 3]
        shapedirs = as_np(self.smpl.shapedirs)  # [V, 3, S]
        regressor = as_np(self.smpl.J_regressor)  # [J, V]
        lbs_weights = as_np(self.smpl.lbs_weights)  # [V, J]
        corners = faces[face_index]  # [N, 3]

        def interpolate(per_vertex: np.ndarray) -> np.ndarray:  # [V, ...] -> [N, ...]
            """Barycentric blend of a per-vertex array at the points."""
            return np.einsum("nk,nk...->n...", bary, per_vertex[corners])

        joint_template = regressor @ v_template  # [J, 3]
        pelvis = joint_template[0].copy()
        weights = interpolate(lbs_weights)
        return CompactBody(
            name=self.name, joint_names=self.joint_names, parents=self.parents,
            joint_template=joint_template - pelvis,
            # SMPL regresses joints from the shaped mesh, so the joint basis is exact.
            joint_shapedirs=np.einsum("jv,vcs->jcs", regressor, shapedirs),
            point_template=interpolate(v_template) - pelvis,
            point_shapedirs=interpolate(shapedirs),
            weights=weights / weights.sum(1, keepdims=True),
            shape_names=self.shape_names,
        )
