"""read_frames pairing rules, skipped images and topic errors, on small real bags."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nbf_ros.estimate import HumanEstimate
from nbf_ros.io.bag_reader import (
    INVALID_CAMERA_INFO,
    NO_CAMERA_INFO_YET,
    SIZE_MISMATCH,
    MissingTopicError,
    read_frames,
    read_messages,
)
from nbf_ros.io.bag_writer import BagWriter
from nbf_ros.io.convert import (
    CAMERA_INFO,
    HUMAN_POSE_ARRAY,
    IMAGE,
    camera_info_message,
    human_pose_array_message,
    image_message,
)

T0 = 1_700_000_000_000_000_000
IMAGES, INFOS, TRUTH = "/camera/image_raw", "/camera/camera_info", "/ground_truth/humans"


def write_info(writer: BagWriter, stamp: int, k: np.ndarray, size: tuple[int, int] = (32, 24),
               bag_time: int | None = None) -> None:
    """A CameraInfo stamped `stamp`, recorded at bag_time (default: the stamp)."""
    msg = camera_info_message(k, size[0], size[1], stamp, "cam")
    writer.write(INFOS, CAMERA_INFO, msg, stamp if bag_time is None else bag_time)


def write_image(writer: BagWriter, stamp: int, rgb: np.ndarray) -> None:
    """An Image stamped and recorded at `stamp`."""
    writer.write(IMAGES, IMAGE, image_message(rgb, stamp, "cam"), stamp)


def test_images_before_any_camera_info_are_skipped_and_counted(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        write_image(writer, T0, make_rgb(0))
        write_image(writer, T0 + 1, make_rgb(1))
        write_info(writer, T0 + 2, camera_k)
        write_image(writer, T0 + 2, make_rgb(2))

    reader = read_frames(bag, truth_topic=None)
    assert [frame.stamp_ns for frame in reader] == [T0 + 2]
    assert reader.skipped == {NO_CAMERA_INFO_YET: 2}


def test_each_image_gets_the_latest_camera_info_at_or_before_its_stamp(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    zoomed = camera_k * np.array([[2.0], [2.0], [1.0]])
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        write_info(writer, T0, camera_k)
        write_image(writer, T0 + 5, make_rgb(0))
        write_info(writer, T0 + 10, zoomed)
        write_image(writer, T0 + 10, make_rgb(1))
        write_image(writer, T0 + 15, make_rgb(2))

    frames = list(read_frames(bag, truth_topic=None))
    for frame, expected in zip(frames, [camera_k, zoomed, zoomed], strict=True):
        np.testing.assert_array_equal(frame.K, expected)


def test_pairing_follows_header_stamps_not_recording_order(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    # The CameraInfo is recorded first but stamped after the image: it does not apply.
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        write_info(writer, T0 + 10, camera_k, bag_time=T0)
        write_image(writer, T0 + 1, make_rgb(0))

    reader = read_frames(bag, truth_topic=None)
    assert list(reader) == []
    assert reader.skipped == {NO_CAMERA_INFO_YET: 1}


def test_images_under_an_unusable_camera_info_are_skipped_and_counted(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    uncalibrated = camera_info_message(camera_k, 32, 24, T0 + 1, "cam")
    uncalibrated.k[:] = 0.0  # what a driver without calibration publishes
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        write_info(writer, T0, camera_k)
        writer.write(INFOS, CAMERA_INFO, uncalibrated, T0 + 1)
        write_image(writer, T0 + 1, make_rgb(0))

    reader = read_frames(bag, truth_topic=None)
    assert list(reader) == []
    assert reader.skipped == {INVALID_CAMERA_INFO: 1}


def test_images_of_another_size_than_the_camera_info_are_skipped_and_counted(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        write_info(writer, T0, camera_k, size=(64, 48))
        write_image(writer, T0, make_rgb(0))

    reader = read_frames(bag, truth_topic=None)
    assert list(reader) == []
    assert reader.skipped == {SIZE_MISMATCH: 1}


def test_truth_pairs_only_with_the_image_of_exactly_its_stamp(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray],
    make_estimate: Callable[..., HumanEstimate],
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        write_info(writer, T0, camera_k)
        write_image(writer, T0, make_rgb(0))
        write_image(writer, T0 + 1, make_rgb(1))
        truth = human_pose_array_message([make_estimate(1, track_id=3)], T0 + 1, "cam")
        writer.write(TRUTH, HUMAN_POSE_ARRAY, truth, T0 + 1)

    first, second = read_frames(bag)
    assert first.truth is None
    assert second.truth is not None and [p.track_id for p in second.truth] == [3]


def test_compressed_topic_is_found_from_the_raw_topic_name(
    tmp_path: Path, camera_k: np.ndarray, smooth_rgb: np.ndarray
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag, compressed=True) as writer:
        writer.write_frame(T0, smooth_rgb, camera_k)

    reader = read_frames(bag)
    assert reader.image_topic == "/camera/image_raw/compressed"
    assert [frame.stamp_ns for frame in reader] == [T0]


def test_missing_image_topic_error_names_the_topics_present(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag, image_topic="/left/image") as writer:
        writer.write_frame(T0, make_rgb(0), camera_k)

    with pytest.raises(MissingTopicError) as caught:
        read_frames(bag)
    message = str(caught.value)
    assert "'/camera/image_raw' not found" in message
    assert "/left/image (sensor_msgs/msg/Image)" in message
    assert "/camera/camera_info (sensor_msgs/msg/CameraInfo)" in message


def test_missing_truth_topic_error_says_how_to_read_without_truth(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag, truth_topic=None) as writer:
        writer.write_frame(T0, make_rgb(0), camera_k)

    with pytest.raises(MissingTopicError, match="truth_topic=None"):
        read_frames(bag)
    assert len(list(read_frames(bag, truth_topic=None))) == 1


def test_read_messages_of_a_missing_topic_fails_at_the_call(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        writer.write_frame(T0, make_rgb(0), camera_k)

    with pytest.raises(MissingTopicError, match=r"'/tf' not found .*/camera/image_raw"):
        read_messages(bag, "/tf")


def test_topic_of_the_wrong_type_is_refused(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        writer.write_frame(T0, make_rgb(0), camera_k)

    with pytest.raises(ValueError, match="carries sensor_msgs/msg/CameraInfo, expected"):
        read_frames(bag, image_topic=INFOS)


def test_missing_bag_is_a_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_frames(tmp_path / "nothing here")


def test_closing_early_stops_the_iteration(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        for i in range(3):
            writer.write_frame(T0 + i, make_rgb(i), camera_k)

    with read_frames(bag) as reader:
        assert next(reader).stamp_ns == T0
    assert list(reader) == []
