"""Anny behind the BodyModel interface: SMPL-style pose in, mesh and SMPL-24 joints out.

Anny (PyPI ``anny``, NAVER LABS Europe, Apache-2.0) is a MakeHuman-based body model: 13,718
vertices, 27,420 triangles and 104 bones, shaped by a few phenotype parameters. Its data ship in
the wheel and its model cache is built by ``nbf_ros.body.anny_cache``, so nothing is downloaded.

Convention: the canonical body frame of ``compact.py`` (metres, +Y up, +Z the way the body faces,
+X towards the body's left). Anny works in Z up, -Y front, +X left, so a fixed rotation of axes
``A`` (+90 degrees about X, ``x_anny = A @ x_canonical``) links the two. Anny's ``.L`` bones lie
on +X, the body's left, so they carry SMPL's ``left_*`` joints.

Joints: each SMPL-24 joint is the head of one Anny bone (``SMPL24_ANNY_BONES``). The SMPL parent
of every joint is the nearest mapped ancestor of its bone, which the constructor checks.

Pose: one local rotation per SMPL-24 joint, relative to rest, in canonical axes, applied about
the joint (SMPL's convention). Anny's ``'local-ref'`` pose parameterisation, once the rig's
reference orientations are dropped (then Anny uses the rest orientations in their place), is the
same thing in Anny's axes: a bone's delta ``D`` is its rotation relative to rest in world axes,
chained as ``G_bone = G_parent @ D`` with heads following ``head = head_parent + G_parent @
(rest_head - rest_head_parent)``. So a joint's rotation ``R`` becomes ``D = A @ R @ A.T`` on its
bone, and every unmapped bone gets ``D = I`` (it keeps its rest rotation relative to its parent
and moves rigidly with its nearest mapped ancestor). The root is the one exception: with an
identity delta, 'local-ref' puts the root bone at the origin with identity orientation, which
turns the rest body by ``R0.T`` (``R0``: the root bone's rest orientation, which may depend on
shape; it is the identity for every shape tried with anny 0.6.2, but nothing relies on it). The
root therefore gets ``D = I`` too, and the posed body is turned afterwards by ``R_root @ A.T @
R0``, which puts the root rotation in and takes Anny's turn out, both exactly.

Shape: Anny's default phenotypes (gender, age, muscle, weight, height, proportions), each given
as an offset from 0.5, Anny's default body (shape zero). Anny clamps each phenotype to its
anchor range ([0, 1]; age [-1/3, 1]): beyond it the body stops changing.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor

from nbf_ros.body.anny_cache import load_anny
from nbf_ros.body.base import BodyModel, BodyOutput, barycentric_interpolate
from nbf_ros.body.compact import CompactBody
from nbf_ros.body.joints import SMPL24_NAMES, SMPL24_PARENTS

__all__ = ["AnnyBody", "SMPL24_ANNY_BONES", "SHAPE_STEP", "collapse_weights", "mapped_ancestor"]

# The Anny bone whose head is each SMPL-24 joint, in SMPL-24 order. Choices beyond the obvious:
# - spine1/2/3 = spine03/02/01: heads 14, 21 and 34 cm above the pelvis at the default shape,
#   closest to SMPL's spine joints (roughly 11, 25 and 30 cm in its neutral template); with
#   spine04 (7 cm) as spine1, spine2 would sit 10 cm too low. spine05 (on the pelvis) and
#   spine04 move rigidly with the pelvis. spine01 is the parent of the clavicles and neck01,
#   like SMPL's spine3.
# - foot = toe2-1: the base of the second toe, the foot's long axis, at the ball of the foot
#   where SMPL's foot joint sits. Anny's five toes hang from foot.L/R separately, so a
#   left_foot rotation bends the second toe only; fitting keeps feet at rest (FITTED_JOINTS).
# - hand = finger3-1: the base of the middle finger (knuckle), the hand's long axis, 10 cm from
#   the wrist like SMPL's hand joint; the metacarpal bones start at the wrist itself. As for
#   the feet, a hand rotation bends that finger only, and fitting keeps hands at rest.
SMPL24_ANNY_BONES: tuple[str, ...] = (
    "root", "upperleg01.L", "upperleg01.R", "spine03", "lowerleg01.L", "lowerleg01.R",
    "spine02", "foot.L", "foot.R", "spine01", "toe2-1.L", "toe2-1.R", "neck01",
    "clavicle.L", "clavicle.R", "head", "upperarm01.L", "upperarm01.R", "lowerarm01.L",
    "lowerarm01.R", "wrist.L", "wrist.R", "finger3-1.L", "finger3-1.R",
)

# Phenotype step of the central differences that linearise Anny's shape in export_compact.
# Anny's rest mesh and joints are piecewise linear in each phenotype, with kinks only at the
# interpolation anchors (0, 0.5, 1; age -1/3, 0, 1/3, 2/3, 1). Muscle and weight have an anchor
# at 0.5, so no derivative exists there; a central difference with any step up to 1/6 (the
# distance to the nearest other anchor) gives exactly the mean of the two one-sided slopes.
SHAPE_STEP = 0.1

# x_anny = A @ x_canonical: canonical +Y (up) -> Anny +Z, canonical +Z (front) -> Anny -Y.
_CANONICAL_TO_ANNY = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))


def mapped_ancestor(parents: list[int] | tuple[int, ...], mapped: set[int]) -> list[int]:
    """For each bone, the nearest bone in ``mapped`` among itself and its ancestors."""
    out = []
    for bone in range(len(parents)):
        walk = bone
        while walk not in mapped:
            walk = parents[walk]
            if walk < 0:
                raise ValueError(f"bone {bone} has no mapped ancestor; map the root bone")
        out.append(walk)
    return out


def collapse_weights(
    bone_weights: Tensor,  # [V, K] skinning weights over the K bones
    bone_joint: Tensor,  # [K] long, the joint each bone's weight goes to
    num_joints: int,
) -> Tensor:  # [V, J]
    """Skinning weights summed per joint over the bones assigned to it."""
    out = bone_weights.new_zeros(bone_weights.shape[0], num_joints)
    return out.index_add_(1, bone_joint, bone_weights)


def _check_shape(arg: str, t: Tensor, expected: tuple[int | None, ...]) -> None:
    """Raise ValueError naming ``arg`` unless ``t`` has the expected shape (None: any size)."""
    ok = t.dim() == len(expected) and all(
        e is None or e == s for e, s in zip(expected, t.shape, strict=True))
    if not ok:
        want = "[" + ", ".join("B" if e is None else str(e) for e in expected) + "]"
        raise ValueError(f"{arg}: expected shape {want}, got {list(t.shape)}")


class AnnyBody(BodyModel):
    """Anny with SMPL-24 joints, SMPL-style pose and phenotype shape, float32.

    Attributes (buffers, moved by ``.to``): ``faces`` [F, 3] long, ``vertex_weights`` [V, 24]
    (Anny's skinning weights collapsed onto the SMPL-24 joints), ``joint_bones`` [24] (Anny bone
    index of each joint); ``anny`` is the wrapped ``anny.Anny`` module.
    """

    name = "anny"
    shape_names = ("gender", "age", "muscle", "weight", "height", "proportions")

    def __init__(self) -> None:
        super().__init__()
        model = load_anny(torch.float32)
        if tuple(model.phenotype_labels) != self.shape_names:
            raise RuntimeError(f"Anny's phenotypes changed: {model.phenotype_labels}")
        # Anny's 'local-ref' deltas are relative to its reference bone orientations (a neutral
        # pose of its own) when the rig has them; without them they are relative to the rest
        # pose, which is what SMPL-style rotations and CompactBody mean.
        model.reference_bone_orientations = None
        self.anny = model
        labels = list(model.bone_labels)
        parents = [int(p) for p in model.bone_parents]
        bones = [labels.index(b) for b in SMPL24_ANNY_BONES]
        owner = mapped_ancestor(parents, set(bones))
        # Exactness of the SMPL-24 chain needs each joint's SMPL parent to be the nearest
        # mapped ancestor of its bone; the bone map above is checked here, once.
        for j, (bone, parent) in enumerate(zip(bones, SMPL24_PARENTS, strict=True)):
            if parent >= 0 and owner[parents[bone]] != bones[parent]:
                raise RuntimeError(f"{SMPL24_NAMES[j]}: Anny's bone tree differs from SMPL-24")
        bone_joint = torch.tensor([bones.index(o) for o in owner])
        # Delta of each Anny bone as a row of [identity, joint 1 .. joint 23]: the root (joint
        # 0) gets the identity too, its rotation is applied after Anny (module docstring).
        delta_row = torch.zeros(len(labels), dtype=torch.long)
        delta_row[torch.tensor(bones[1:])] = torch.arange(2, 25)
        weights = collapse_weights(model.dense_vertex_bone_weights, bone_joint, 24)
        self.register_buffer("faces", model.faces.clone().long(), persistent=False)
        self.register_buffer("axes", torch.tensor(_CANONICAL_TO_ANNY), persistent=False)
        self.register_buffer("joint_bones", torch.tensor(bones), persistent=False)
        self.register_buffer("bone_joint", bone_joint, persistent=False)
        self.register_buffer("delta_row", delta_row, persistent=False)
        self.register_buffer("vertex_weights", weights, persistent=False)

    @property
    def num_vertices(self) -> int:
        """Number of mesh vertices V."""
        return self.vertex_weights.shape[0]

    def _phenotypes(self, shape: Tensor | None) -> Tensor:  # [B, S] -> [B, S] (or [1, S])
        """Anny phenotype values for shape offsets (None: Anny's default body)."""
        if shape is None:
            return self.axes.new_full((1, self.num_shape), 0.5)
        return shape + 0.5

    def _deltas(self, rotations: Tensor) -> Tensor:  # [B, 24, 3, 3] -> [B, K, 4, 4]
        """Anny 'local-ref' deltas for SMPL-24 local rotations (root left at identity)."""
        batch = rotations.shape[0]
        axes = self.axes.to(rotations.dtype)
        local = axes @ rotations @ axes.T  # [B, 24, 3, 3] same rotations in Anny's axes
        eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        table = torch.cat((eye.expand(batch, 1, 3, 3), local), 1)  # [B, 25, 3, 3]
        rot = table[:, self.delta_row]  # [B, K, 3, 3]
        # Homogeneous 4x4 with zero translation: bones move only by rotating about their heads.
        rigid = torch.cat((rot, rot.new_zeros(*rot.shape[:-1], 1)), -1)  # [B, K, 3, 4]
        bottom = rot.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(*rot.shape[:-2], 1, 4)
        return torch.cat((rigid, bottom), -2)

    def forward(
        self,
        rotations: Tensor,  # [B, 24, 3, 3] local rotations, root first
        translation: Tensor,  # [B, 3] pelvis position, metres
        shape: Tensor | None = None,  # [B, S]; None = Anny's default body
    ) -> BodyOutput:
        """Posed mesh, SMPL-24 joints and joint rotations in the canonical frame."""
        _check_shape("rotations", rotations, (None, 24, 3, 3))
        batch = rotations.shape[0]
        _check_shape("translation", translation, (batch, 3))
        if shape is not None:
            _check_shape("shape", shape, (batch, self.num_shape))
        out = self.anny(
            pose_parameters=self._deltas(rotations),
            phenotype_kwargs=self._phenotypes(shape),
            pose_parameterization="local-ref",
        )
        rest_poses = out["rest_bone_poses"]  # [B or 1, K, 4, 4]
        poses = out["bone_poses"]  # [B, K, 4, 4]
        # Anny's output has the root head at the origin and the body turned by R0.T; ``turn``
        # maps it to the canonical frame with the root rotation applied (module docstring).
        axes = self.axes.to(rotations.dtype)
        turn = rotations[:, 0] @ axes.T @ rest_poses[:, 0, :3, :3]  # [B, 3, 3]
        vertices = out["vertices"] @ turn.transpose(1, 2) + translation[:, None]
        joint_poses = poses[:, self.joint_bones]  # [B, 24, 4, 4]
        joints = joint_poses[..., :3, 3] @ turn.transpose(1, 2) + translation[:, None]
        # Rotation of each joint's bone relative to rest: posed orientation times rest inverse.
        rest_rot = rest_poses[:, self.joint_bones, :3, :3]
        relative = joint_poses[..., :3, :3] @ rest_rot.transpose(-1, -2)  # Anny's output frame
        global_rot = turn[:, None] @ relative @ axes
        return BodyOutput(vertices=vertices, joints=joints, rotations=global_rot)

    def rest_vertices(self, shape: Tensor) -> Tensor:  # [B, S] -> [B, V, 3]
        """Rest-pose mesh vertices for each shape, pelvis at the origin, canonical frame."""
        _check_shape("shape", shape, (None, self.num_shape))
        return self._rest(self.anny, shape + 0.5)[0]

    def _rest(self, model: torch.nn.Module, phenotypes: Tensor) -> tuple[Tensor, Tensor]:
        """Rest vertices [B, V, 3] and SMPL-24 joints [B, 24, 3] of ``model``, canonical frame."""
        out = model(pose_parameters=None, phenotype_kwargs=phenotypes)
        heads = out["rest_bone_heads"]  # [B, K, 3]
        pelvis = heads[:, :1]
        axes = self.axes.to(device=heads.device, dtype=heads.dtype)
        # Row vectors: x_canonical = A.T @ x_anny is x_anny @ A.
        vertices = (out["rest_vertices"] - pelvis) @ axes
        joints = (heads[:, self.joint_bones.to(heads.device)] - pelvis) @ axes
        return vertices, joints

    def export_compact(
        self,
        face_index: np.ndarray,  # [N] long, triangle of each point
        barycentric: np.ndarray,  # [N, 3] barycentric coordinates, rows sum to 1
    ) -> CompactBody:
        """A CompactBody of surface points on Anny: rest pose, skinning and linearised shape.

        The points' skinning weights are Anny's vertex weights collapsed onto the SMPL-24 joints
        and interpolated like the points. At the default shape, a point placed on a vertex
        follows Anny exactly (to float32 round-off) under any pose; a point inside a triangle
        whose corners have different weights differs from the interpolated posed mesh by a
        second-order term (weight difference x rotation difference x distance to the corners;
        measured up to 1.2 mm, mean 0.05 mm, for random rotations up to 60 degrees per joint).
        The shape basis is the central-difference linearisation of Anny at the default body
        (``SHAPE_STEP``), computed in float64: exact for gender, height and proportions alone;
        for offsets uniform in [-0.1, 0.1] on all six, off by up to 5 mm (mean 0.6 mm).
        """
        fi = torch.as_tensor(np.asarray(face_index), dtype=torch.long)
        bary = torch.as_tensor(np.asarray(barycentric), dtype=torch.float64)
        _check_shape("face_index", fi, (None,))
        _check_shape("barycentric", bary, (fi.shape[0], 3))
        if fi.numel() and (fi.min() < 0 or fi.max() >= self.faces.shape[0]):
            raise ValueError(f"face_index: expected values in [0, {self.faces.shape[0]})")
        if not torch.allclose(bary.sum(1), torch.ones(len(bary), dtype=bary.dtype), atol=1e-4):
            raise ValueError("barycentric: every row must sum to 1")
        # float64 copy: the differences below would lose 3 digits to float32 round-off.
        model64 = copy.deepcopy(self.anny).to(device="cpu", dtype=torch.float64)
        steps = SHAPE_STEP * torch.eye(self.num_shape, dtype=torch.float64)
        phenotypes = 0.5 + torch.cat((steps.new_zeros(1, self.num_shape), steps, -steps))
        vertices, joints = self._rest(model64, phenotypes)  # [1 + 2S, V, 3], [1 + 2S, 24, 3]
        faces = self.faces.cpu()
        points = barycentric_interpolate(vertices, faces, fi, bary)  # [1 + 2S, N, 3]
        num_s = self.num_shape

        def basis(x: Tensor) -> Tensor:  # [1 + 2S, M, 3] -> [M, 3, S]
            return ((x[1:1 + num_s] - x[1 + num_s:]) / (2 * SHAPE_STEP)).permute(1, 2, 0)

        corner_weights = self.vertex_weights.cpu().double()[faces[fi]]  # [N, 3, 24]
        weights = (corner_weights * bary[..., None]).sum(1)
        weights = weights / weights.sum(1, keepdim=True)  # remove float32 drift from 1
        compact = CompactBody(
            name=self.name, joint_names=self.joint_names, parents=self.parents,
            joint_template=joints[0], joint_shapedirs=basis(joints),
            point_template=points[0], point_shapedirs=basis(points),
            weights=weights, shape_names=self.shape_names,
        )
        return compact.to(self.faces.device)
