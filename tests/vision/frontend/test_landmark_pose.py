"""The start a new person's fit takes from world landmarks: closed-form inverse kinematics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbf_ros.body.rotations import axis_angle_to_matrix
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.paths import find_model_file
from nbf_ros.vision.frontend.landmark_pose import LIMB_BONES, landmark_pose, shortest_rotation
from nbf_ros.vision.frontend.landmarks import LANDMARK_NAMES, PersonLandmarks
from nbf_ros.vision.frontend.roi import rois_from_boxes


def test_the_shortest_rotation_takes_one_direction_onto_another_even_when_opposite():
    a = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    b = np.array([[0.0, 3.0, 0.0], [0.0, -1.0, 0.0], [1.0, 1.0, 0.0]])
    rot = shortest_rotation(a, b)
    got = (rot @ (a / np.linalg.norm(a, axis=1, keepdims=True))[..., None])[..., 0]
    np.testing.assert_allclose(got, b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-9)


@pytest.fixture(scope="module")
def body():
    return NeuralBodyVolume.load(find_model_file("nbv_anny.npz")).body


def _landmarks_of(joints: np.ndarray, names: tuple[str, ...]) -> PersonLandmarks:
    """World landmarks [1, 33, 3] at a body's joints (the 12 mapped ones), about mid-hip."""
    world = np.zeros((1, 33, 3))
    for name in names:
        if name in LANDMARK_NAMES:
            world[0, LANDMARK_NAMES.index(name)] = joints[names.index(name)]
    hip = world[0, [LANDMARK_NAMES.index("left_hip"), LANDMARK_NAMES.index("right_hip")]]
    world -= hip.mean(0)
    roi = rois_from_boxes(np.array([[0.0, 0.0, 1.0, 1.0]]))
    zeros = np.zeros((1, 33))
    return PersonLandmarks(roi, np.zeros((1, 33, 2)), zeros, zeros, np.ones(1), world,
                           np.zeros((1, 256, 256)), roi)


def test_a_posed_body_is_recovered_from_landmarks_at_its_own_joints(body):
    names = body.joint_names
    rot = torch.eye(3).repeat(1, len(names), 1, 1)
    turn = {"": (0.3, 2.5, -0.2), "left_shoulder": (0.0, 0.0, 1.2),
            "right_elbow": (0.0, -1.4, 0.0), "left_hip": (-0.9, 0.0, 0.2),
            "right_knee": (1.1, 0.0, 0.0)}
    for name, aa in turn.items():
        rot[0, names.index(name) if name else 0] = axis_angle_to_matrix(torch.tensor(aa))
    shape = torch.zeros(1, body.num_shape)
    truth = body(rot, torch.zeros(1, 3), shape).joints[0].numpy().astype(np.float64)
    got = body(landmark_pose(body, _landmarks_of(truth, names), shape), torch.zeros(1, 3),
               shape).joints[0].numpy()
    for joint, end in LIMB_BONES:
        j, e = names.index(joint), names.index(end)
        want, have = truth[e] - truth[j], got[e] - got[j]
        cos = want @ have / np.linalg.norm(want) / np.linalg.norm(have)
        assert cos > np.cos(np.radians(2.0)), (joint, end)


def test_a_warm_start_is_moved_to_where_this_frames_keypoints_put_it(body):
    from nbf_ros.fitting.state import BodyState
    from nbf_ros.nbv.camera import CropCamera, project
    from nbf_ros.nbv.volume import NeuralBodyVolume
    from nbf_ros.vision.frontend.fit_inputs import placed_on_keypoints

    volume = NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))
    names = body.joint_names
    rot = torch.eye(3).repeat(1, len(names), 1, 1)
    rot[0, 0] = axis_angle_to_matrix(torch.tensor([3.0, 0.2, 0.0]))
    shape = torch.zeros(1, body.num_shape)
    truth = torch.tensor([[0.3, -0.1, 4.0]])
    K = torch.tensor([[[40.0, 0.0, 16.0], [0.0, 40.0, 16.0], [0.0, 0.0, 1.0]]])
    keypoints = project(body(rot, truth, shape).joints, K)
    last = BodyState(rot, torch.tensor([[0.0, 0.0, 3.5]]), shape)  # where it was
    moved = placed_on_keypoints(last, keypoints, torch.ones(1, len(names)),
                                CropCamera(K, 32, 32), volume)
    torch.testing.assert_close(moved.translation, truth, atol=2e-3, rtol=0)
    assert moved.rotations is last.rotations  # the pose stays the last frame's
