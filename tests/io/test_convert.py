"""Messages from numpy data and back, through real CDR bytes of the shared type store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nbf_ros.estimate import HumanEstimate
from nbf_ros.io.convert import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    HUMAN_POSE_ARRAY,
    IMAGE,
    CameraInfoError,
    camera_info_message,
    compressed_image_message,
    estimates_from_message,
    header_message,
    human_pose_array_message,
    image_from_message,
    image_message,
    intrinsics_from_camera_info,
    stamp_to_ns,
)
from nbf_ros.io.typestore import nbf_typestore

STAMP = 1_700_000_123_456_789_012


def through_cdr(msg: Any, msgtype: str) -> Any:
    """msg serialised to CDR bytes and deserialised again, as a bag or DDS would carry it."""
    store = nbf_typestore()
    return store.deserialize_cdr(bytes(store.serialize_cdr(msg, msgtype)), msgtype)


# Header ---------------------------------------------------------------------------------------


def test_header_stamp_splits_nanoseconds_into_sec_and_nanosec() -> None:
    header = header_message(STAMP, "cam")
    assert (header.stamp.sec, header.stamp.nanosec) == (1_700_000_123, 456_789_012)
    assert header.frame_id == "cam"
    assert stamp_to_ns(header.stamp) == STAMP


@pytest.mark.parametrize("stamp", [-1, 2**31 * 10**9])
def test_stamp_outside_builtin_time_is_refused(stamp: int) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        header_message(stamp, "cam")


# Images ---------------------------------------------------------------------------------------


def test_image_message_round_trips_exactly(make_rgb: Callable[[int], np.ndarray]) -> None:
    rgb = make_rgb(0)
    msg = through_cdr(image_message(rgb, STAMP, "cam"), IMAGE)
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("rgb8", 32, 24, 96)
    np.testing.assert_array_equal(image_from_message(msg), rgb)


def test_compressed_image_message_is_jpeg_close_to_the_input(smooth_rgb: np.ndarray) -> None:
    msg = through_cdr(compressed_image_message(smooth_rgb, STAMP, "cam"), COMPRESSED_IMAGE)
    assert "jpeg" in msg.format
    assert bytes(msg.data[:2]) == b"\xff\xd8"  # JPEG start-of-image marker
    out = image_from_message(msg)
    assert np.abs(out.astype(int) - smooth_rgb.astype(int)).mean() < 3.0


# Camera info ----------------------------------------------------------------------------------


def test_camera_info_is_an_ideal_pinhole(camera_k: np.ndarray) -> None:
    msg = through_cdr(camera_info_message(camera_k, 32, 24, STAMP, "cam"), CAMERA_INFO)
    assert (msg.width, msg.height, msg.distortion_model) == (32, 24, "plumb_bob")
    np.testing.assert_array_equal(msg.d, np.zeros(5))
    np.testing.assert_array_equal(msg.r, np.eye(3).ravel())
    np.testing.assert_array_equal(msg.p.reshape(3, 4), np.hstack((camera_k, np.zeros((3, 1)))))


def test_intrinsics_round_trip_through_camera_info(camera_k: np.ndarray) -> None:
    msg = through_cdr(camera_info_message(camera_k, 32, 24, STAMP, "cam"), CAMERA_INFO)
    k, width, height = intrinsics_from_camera_info(msg)
    assert (width, height) == (32, 24) and k.dtype == np.float64
    np.testing.assert_array_equal(k, camera_k)


@pytest.mark.parametrize(
    "index,value,match",
    [(0, 0.0, "focal lengths must be positive"), (4, -40.0, "focal lengths must be positive"),
     (0, np.nan, "non-finite"), (4, np.inf, "non-finite"), (2, np.nan, "non-finite")],
)
def test_unusable_focal_lengths_are_camera_info_errors(
    camera_k: np.ndarray, index: int, value: float, match: str
) -> None:
    msg = camera_info_message(camera_k, 32, 24, STAMP, "cam")
    msg.k[index] = value
    with pytest.raises(CameraInfoError, match=match):
        intrinsics_from_camera_info(msg)


def test_all_zero_camera_info_of_an_uncalibrated_driver_is_refused(camera_k: np.ndarray) -> None:
    msg = camera_info_message(camera_k, 32, 24, STAMP, "cam")
    msg.k[:] = 0.0
    with pytest.raises(CameraInfoError, match="calibrated"):
        intrinsics_from_camera_info(msg)


@pytest.mark.parametrize("width,height", [(0, 24), (32, 0)])
def test_zero_image_size_is_a_camera_info_error(
    camera_k: np.ndarray, width: int, height: int
) -> None:
    msg = camera_info_message(camera_k, 32, 24, STAMP, "cam")
    msg.width, msg.height = width, height
    with pytest.raises(CameraInfoError, match="size must be positive"):
        intrinsics_from_camera_info(msg)


def test_camera_info_error_is_a_value_error() -> None:
    assert issubclass(CameraInfoError, ValueError)


def test_camera_info_message_refuses_unusable_intrinsics(camera_k: np.ndarray) -> None:
    with pytest.raises(CameraInfoError):
        camera_info_message(np.zeros((3, 3)), 32, 24, STAMP, "cam")
    with pytest.raises(CameraInfoError, match="9 entries"):
        camera_info_message(camera_k[:2], 32, 24, STAMP, "cam")


# People ---------------------------------------------------------------------------------------


def test_pose_array_round_trips_to_float32_precision(
    make_estimate: Callable[..., HumanEstimate], assert_same_estimates: Callable[..., None]
) -> None:
    people = [make_estimate(1, track_id=4), make_estimate(2, track_id=9)]
    msg = human_pose_array_message(people, STAMP, "cam", processing_time=0.125)
    received = through_cdr(msg, HUMAN_POSE_ARRAY)
    assert stamp_to_ns(received.header.stamp) == STAMP and received.header.frame_id == "cam"
    assert received.processing_time == 0.125
    assert_same_estimates(people, estimates_from_message(received))


def test_every_pose_shares_the_array_header(make_estimate: Callable[..., HumanEstimate]) -> None:
    msg = human_pose_array_message([make_estimate(1), make_estimate(2)], STAMP, "cam")
    for pose in msg.humans:
        assert stamp_to_ns(pose.header.stamp) == STAMP and pose.header.frame_id == "cam"


def test_empty_list_is_an_empty_array() -> None:
    msg = through_cdr(human_pose_array_message([], STAMP, "cam"), HUMAN_POSE_ARRAY)
    assert estimates_from_message(msg) == []


def test_missing_joint_confidence_is_sent_as_ones(
    make_estimate: Callable[..., HumanEstimate]
) -> None:
    person = make_estimate(1)
    person.joint_confidence = None
    pose = human_pose_array_message([person], STAMP, "cam").humans[0]
    np.testing.assert_array_equal(pose.joint_confidence, np.ones(person.num_joints))


def test_bone_names_are_the_joint_names_without_the_root(
    make_estimate: Callable[..., HumanEstimate]
) -> None:
    person = make_estimate(1)
    pose = human_pose_array_message([person], STAMP, "cam").humans[0]
    assert pose.bone_names == list(person.joint_names[1:])
    assert len(pose.bone_rotations) == person.num_joints - 1


def test_quaternions_are_unit_xyzw_with_non_negative_w(
    make_estimate: Callable[..., HumanEstimate]
) -> None:
    person = make_estimate(1)
    person.root_rotation = np.diag([1.0, -1.0, -1.0])  # 180 degrees about x
    pose = human_pose_array_message([person], STAMP, "cam").humans[0]
    q = pose.root_pose.orientation
    assert (q.x, q.y, q.z, q.w) == pytest.approx((1.0, 0.0, 0.0, 0.0), abs=1e-12)
    for q in pose.bone_rotations:
        assert q.w >= 0 and np.linalg.norm([q.x, q.y, q.z, q.w]) == pytest.approx(1.0)


def test_each_person_gets_its_own_quaternions_from_the_batched_conversion(
    make_estimate: Callable[..., HumanEstimate]
) -> None:
    # A frame's people are converted in one call and split again: each pose must carry its
    # own rotations, also the 180-degree turns where each formula's divisor vanishes.
    import torch

    from nbf_ros.body.rotations import axis_angle_to_matrix, matrix_to_quaternion

    people = [make_estimate(1), make_estimate(2)]
    axes = torch.tensor([[np.pi, 0, 0], [0, np.pi, 0], [0, 0, np.pi], [0.3, -1.2, 2.0]],
                        dtype=torch.float64)
    for person, turn in zip(people, (axes, -axes.flip(0)), strict=True):
        person.bone_rotations = person.bone_rotations.copy()
        person.bone_rotations[:4] = axis_angle_to_matrix(turn).numpy()
    poses = human_pose_array_message(people, STAMP, "cam").humans
    for person, pose in zip(people, poses, strict=True):
        got = np.array([(q.x, q.y, q.z, q.w) for q in pose.bone_rotations])
        want = matrix_to_quaternion(torch.from_numpy(person.bone_rotations)).numpy()
        np.testing.assert_allclose(got, want, atol=1e-12)
        root = pose.root_pose.orientation
        want_root = matrix_to_quaternion(torch.from_numpy(person.root_rotation)).numpy()
        np.testing.assert_allclose([root.x, root.y, root.z, root.w], want_root, atol=1e-12)


def test_keypoints_have_zero_z(make_estimate: Callable[..., HumanEstimate]) -> None:
    pose = human_pose_array_message([make_estimate(1)], STAMP, "cam").humans[0]
    assert all(point.z == 0.0 for point in pose.keypoints_2d)


@pytest.mark.parametrize(
    "box,expected",
    [([2.0, 3.0, 20.0, 22.0], (2, 3, 18, 19)),  # x_offset, y_offset, width, height
     ([2.4, 3.6, 19.6, 22.2], (2, 4, 18, 18)),
     ([-5.0, -1.0, 10.0, 12.0], (0, 0, 10, 12)),
     ([-9.0, -9.0, -1.0, -1.0], (0, 0, 0, 0))],
)
def test_roi_is_the_box_clamped_at_zero_and_rounded(
    make_estimate: Callable[..., HumanEstimate], box: list[float], expected: tuple[int, ...]
) -> None:
    person = make_estimate(1)
    person.roi = np.array(box)
    roi = human_pose_array_message([person], STAMP, "cam").humans[0].roi
    assert (roi.x_offset, roi.y_offset, roi.width, roi.height) == expected


def test_non_finite_roi_is_refused(make_estimate: Callable[..., HumanEstimate]) -> None:
    person = make_estimate(1)
    person.roi = np.array([np.nan, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="roi box must be finite"):
        human_pose_array_message([person], STAMP, "cam")


def test_bone_names_that_disagree_with_joint_names_are_refused(
    make_estimate: Callable[..., HumanEstimate]
) -> None:
    msg = human_pose_array_message([make_estimate(1)], STAMP, "cam")
    msg.humans[0].bone_names = msg.humans[0].bone_names[::-1]
    with pytest.raises(ValueError, match="bone_names"):
        estimates_from_message(msg)
