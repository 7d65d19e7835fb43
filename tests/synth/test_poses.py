"""Random poses: every joint within its limit, knees and elbows bending the anatomical way,
and root orientations that keep the body upright in the image."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.body.compact import CompactBody
from nbf_ros.body.rotations import rotation_angle
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.poses import JOINT_LIMITS_DEG, random_body_pose, random_root

SAMPLES = 300
FRONT = torch.tensor([0.0, 0.0, 1.0])  # canonical body frame: +Y up, +Z front


@pytest.fixture(scope="module")
def poses(mesh: BodyMesh) -> Tensor:
    """SAMPLES random poses at full activity [B, J, 3, 3]."""
    return random_body_pose(mesh.body, SAMPLES, torch.Generator().manual_seed(7), 1.0)


def rest_joints(mesh: BodyMesh) -> Tensor:
    """Mean-shape rest joints [J, 3], pelvis at the origin."""
    return mesh.body.rest(torch.zeros(1, mesh.body.num_shape))[1][0]


@pytest.fixture(scope="module")
def skeleton(mesh: BodyMesh) -> CompactBody:
    """The mesh's body with a single surface point: the same forward kinematics, cheaply."""
    state = mesh.body.state()
    for key in ("point_template", "point_shapedirs", "weights"):
        state[key] = state[key][:1]
    return CompactBody.from_state(state)


def bend_only(skeleton: CompactBody, poses: Tensor, joint: str) -> tuple[Tensor, Tensor]:
    """Joints [B, J, 3] with only ``joint`` turned as in ``poses`` (root identity, no
    translation) and that joint's rotation angle [B]."""
    j = skeleton.joint_names.index(joint)
    rotations = torch.eye(3).expand(len(poses), skeleton.num_joints, 3, 3).clone()
    rotations[:, j] = poses[:, j]
    joints = skeleton(rotations, torch.zeros(len(poses), 3)).joints
    return joints, rotation_angle(poses[:, j])


def test_every_joint_turns_no_further_than_its_limit(mesh: BodyMesh, poses: Tensor) -> None:
    angles = torch.rad2deg(rotation_angle(poses))  # [B, J]
    for j, name in enumerate(mesh.body.joint_names):
        limit = JOINT_LIMITS_DEG.get(name, 0.0)
        largest = max(limit) if isinstance(limit, tuple) else limit
        assert float(angles[:, j].max()) <= largest + 1e-2, name
    # The limits are used, not just respected.
    shoulder = mesh.body.joint_names.index("left_shoulder")
    assert float(angles[:, shoulder].max()) > 0.8 * JOINT_LIMITS_DEG["left_shoulder"]


def test_joints_without_a_limit_and_the_root_stay_at_identity(mesh: BodyMesh,
                                                              poses: Tensor) -> None:
    free = [j for j, name in enumerate(mesh.body.joint_names) if name not in JOINT_LIMITS_DEG]
    assert 0 in free
    torch.testing.assert_close(poses[:, free], torch.eye(3).expand_as(poses[:, free]))


def test_activity_scales_each_samples_limits(mesh: BodyMesh) -> None:
    activity = torch.linspace(0.0, 1.0, 64)
    poses = random_body_pose(mesh.body, 64, torch.Generator().manual_seed(3), activity)
    angles = torch.rad2deg(rotation_angle(poses))
    for name, limit in JOINT_LIMITS_DEG.items():
        largest = max(limit) if isinstance(limit, tuple) else limit
        j = mesh.body.joint_names.index(name)
        assert (angles[:, j] <= activity * largest + 1e-2).all(), name
    assert float(angles[0].max()) < 1e-2  # activity 0: the rest pose


@pytest.mark.parametrize(("hinge", "child"), [("left_knee", "left_ankle"),
                                              ("right_knee", "right_ankle"),
                                              ("left_elbow", "left_wrist"),
                                              ("right_elbow", "right_wrist")])
def test_a_hinge_turns_its_bone_only_in_the_plane_of_bone_and_front(
    mesh: BodyMesh, skeleton: CompactBody, poses: Tensor, hinge: str, child: str
) -> None:
    names = mesh.body.joint_names
    rest = rest_joints(mesh)
    joints, angle = bend_only(skeleton, poses, hinge)
    bone = rest[names.index(child)] - rest[names.index(hinge)]
    side = F.normalize(torch.linalg.cross(bone, FRONT), dim=0)  # the hinge axis
    moved = joints[:, names.index(child)] - rest[names.index(child)]
    assert float(angle.max()) > math.radians(60)
    assert float((moved @ side).abs().max()) < 1e-5


@pytest.mark.parametrize(("knee", "ankle"), [("left_knee", "left_ankle"),
                                             ("right_knee", "right_ankle")])
def test_knee_flexion_moves_the_ankle_backwards(mesh: BodyMesh, skeleton: CompactBody,
                                                poses: Tensor, knee: str, ankle: str) -> None:
    rest = rest_joints(mesh)
    joints, angle = bend_only(skeleton, poses, knee)
    moved_z = joints[:, mesh.body.joint_names.index(ankle), 2] - rest[
        mesh.body.joint_names.index(ankle), 2]
    bent = angle > math.radians(1.0)
    assert bent.sum() > 0.8 * SAMPLES
    assert (moved_z[bent] < 0).all()


@pytest.mark.parametrize(("elbow", "wrist"), [("left_elbow", "left_wrist"),
                                              ("right_elbow", "right_wrist")])
def test_elbow_flexion_moves_the_wrist_forwards(mesh: BodyMesh, skeleton: CompactBody,
                                                poses: Tensor, elbow: str, wrist: str) -> None:
    names = mesh.body.joint_names
    rest = rest_joints(mesh)
    joints, angle = bend_only(skeleton, poses, elbow)
    moved = joints[:, names.index(wrist)] - rest[names.index(wrist)]
    # The rest forearm already points a little forwards, so a deep flexion folds the wrist
    # back up towards the shoulder: the wrist moves to the front of the straight forearm's
    # line, and forwards in body +Z for the first 60 degrees.
    bone = F.normalize(rest[names.index(wrist)] - rest[names.index(elbow)], dim=0)
    ahead = F.normalize(FRONT - (FRONT @ bone) * bone, dim=0)
    bent = angle > math.radians(1.0)
    assert bent.sum() > 0.8 * SAMPLES
    assert (moved[bent] @ ahead > 0).all()
    early = bent & (angle < math.radians(60.0))
    assert early.sum() > 10
    assert (moved[early, 2] > 0).all()


def test_random_root_keeps_the_body_upright_within_the_tilt() -> None:
    for tilt in (15.0, 5.0):
        roots = random_root(500, torch.Generator().manual_seed(1), tilt_deg=tilt)
        up = roots[:, :, 1]  # body +Y in the camera frame
        cos_to_image_up = up @ torch.tensor([0.0, -1.0, 0.0])
        assert (cos_to_image_up >= math.cos(math.radians(tilt)) - 1e-6).all(), tilt
        torch.testing.assert_close(roots @ roots.transpose(-1, -2),
                                   torch.eye(3).expand(500, 3, 3), atol=1e-5, rtol=0.0)
        assert torch.allclose(torch.linalg.det(roots), torch.ones(500), atol=1e-5)


def test_random_root_without_yaw_faces_the_camera() -> None:
    roots = random_root(200, torch.Generator().manual_seed(2), tilt_deg=10.0, yaw_range=0.0)
    front = roots[:, :, 2]  # body +Z (front) in the camera frame
    assert (front @ torch.tensor([0.0, 0.0, -1.0]) >= math.cos(math.radians(10.0)) - 1e-6).all()


def test_random_root_turns_through_the_whole_yaw_range() -> None:
    roots = random_root(500, torch.Generator().manual_seed(4), tilt_deg=0.0)
    towards_camera = roots[:, :, 2] @ torch.tensor([0.0, 0.0, -1.0])
    assert float(towards_camera.max()) > 0.95 and float(towards_camera.min()) < -0.95
