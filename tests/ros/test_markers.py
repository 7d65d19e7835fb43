"""RViz markers of estimates: one set per person, ids from tracks, colours from joint states."""

from __future__ import annotations

import numpy as np
import pytest

from nbf_ros.estimate import HumanEstimate, JointState


def person(track_id: int) -> HumanEstimate:
    states = np.zeros(24, dtype=np.uint8)
    states[3] = JointState.OCCLUDED
    return HumanEstimate(
        joints=np.random.default_rng(track_id).normal(size=(24, 3)) * 0.2 + [0, 0, 3],
        joint_visibility=np.ones(24), joint_state=states, keypoints_2d=np.zeros((24, 2)),
        root_translation=np.array([0, 0, 3.0]), root_rotation=np.eye(3),
        bone_rotations=np.tile(np.eye(3), (23, 1, 1)), shape=np.zeros(2),
        roi=np.array([0, 0, 10, 10.0]), track_id=track_id)


@pytest.fixture
def header():  # noqa: ANN201
    from std_msgs.msg import Header

    return Header(frame_id="cam_optical_frame")


def test_each_person_gets_joints_bones_and_label_under_its_track_id(header) -> None:  # noqa: ANN001
    from visualization_msgs.msg import Marker

    from nbf_ros.ros.markers import human_markers

    array = human_markers([person(4), person(9)], header, lifetime=0.5)
    kinds = {(m.ns, m.id, m.type) for m in array.markers}
    for tid in (4, 9):
        assert {("joints", tid, Marker.SPHERE_LIST), ("bones", tid, Marker.LINE_LIST),
                ("labels", tid, Marker.TEXT_VIEW_FACING)} <= kinds
    assert all(m.header.frame_id == "cam_optical_frame" for m in array.markers)
    assert all(m.lifetime.nanosec == 500_000_000 for m in array.markers)


def test_joint_colours_follow_joint_states(header) -> None:  # noqa: ANN001
    from nbf_ros.overlay import STATE_RGB
    from nbf_ros.ros.markers import human_markers

    joints = human_markers([person(1)], header, lifetime=1.0).markers[0]
    red = STATE_RGB[JointState.OCCLUDED]
    assert (round(joints.colors[3].r * 255), round(joints.colors[3].g * 255)) == red[:2]
    assert len(joints.colors) == len(joints.points) == 24


def test_bones_join_each_joint_to_its_parent(header) -> None:  # noqa: ANN001
    from nbf_ros.body.joints import SMPL24_BONES
    from nbf_ros.ros.markers import human_markers

    est = person(1)
    bones = human_markers([est], header, lifetime=1.0).markers[1]
    assert len(bones.points) == 2 * len(SMPL24_BONES)
    child, parent = SMPL24_BONES[0]
    assert bones.points[0].x == pytest.approx(est.joints[parent, 0])
    assert bones.points[1].x == pytest.approx(est.joints[child, 0])


def test_mesh_marker_is_a_triangle_list_of_the_given_faces(header) -> None:  # noqa: ANN001
    from visualization_msgs.msg import Marker

    from nbf_ros.ros.markers import human_markers

    verts = np.array([[0, 0, 3.0], [1, 0, 3], [0, 1, 3], [1, 1, 3]])
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    mesh = human_markers([person(1)], header, 1.0, meshes=[(verts, faces)]).markers[-1]
    assert mesh.type == Marker.TRIANGLE_LIST and len(mesh.points) == 6
    assert mesh.points[4].x == 1.0 and mesh.points[4].y == 1.0
