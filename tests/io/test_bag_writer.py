"""BagWriter: frames and truth into real MCAP and sqlite3 bags, read back with the readers."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from nbf_ros.estimate import HumanEstimate
from nbf_ros.io.bag_reader import list_topics, read_frames, read_messages
from nbf_ros.io.bag_writer import BagWriter
from nbf_ros.io.typestore import nbf_typestore

STORAGES = ["mcap", "sqlite3"]
T0 = 1_700_000_000_000_000_000
FRAME_NS = 33_000_000


@pytest.mark.parametrize("storage", STORAGES)
def test_frames_and_truth_round_trip(
    tmp_path: Path, storage: str, camera_k: np.ndarray,
    make_rgb: Callable[[int], np.ndarray], make_estimate: Callable[..., HumanEstimate],
    assert_same_estimates: Callable[..., None],
) -> None:
    images = [make_rgb(i) for i in range(3)]
    truths = [[make_estimate(1)], [], [make_estimate(2, 1), make_estimate(3, 2)]]
    bag = tmp_path / "bag"
    with BagWriter(bag, storage=storage) as writer:
        for i, (rgb, truth) in enumerate(zip(images, truths, strict=True)):
            writer.write_frame(T0 + i * FRAME_NS, rgb, camera_k, frame_id="cam", truth=truth)

    frames = list(read_frames(bag))
    assert [f.stamp_ns for f in frames] == [T0, T0 + FRAME_NS, T0 + 2 * FRAME_NS]
    for frame, rgb, truth in zip(frames, images, truths, strict=True):
        assert frame.frame_id == "cam" and (frame.width, frame.height) == (32, 24)
        np.testing.assert_array_equal(frame.rgb, rgb)
        np.testing.assert_array_equal(frame.K, camera_k)
        assert frame.truth is not None
        assert_same_estimates(truth, frame.truth)


@pytest.mark.parametrize("storage", STORAGES)
def test_compressed_frames_round_trip_approximately(
    tmp_path: Path, storage: str, camera_k: np.ndarray, smooth_rgb: np.ndarray
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag, storage=storage, compressed=True) as writer:
        writer.write_frame(T0, smooth_rgb, camera_k)

    assert list_topics(bag)["/camera/image_raw/compressed"] == "sensor_msgs/msg/CompressedImage"
    (frame,) = read_frames(bag, image_topic="/camera/image_raw/compressed")
    assert frame.rgb.shape == smooth_rgb.shape
    assert np.abs(frame.rgb.astype(int) - smooth_rgb.astype(int)).mean() < 3.0


def test_all_frame_messages_share_stamp_and_bag_time(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray],
    make_estimate: Callable[..., HumanEstimate],
) -> None:
    bag = tmp_path / "bag"
    stamp = T0 + 123
    with BagWriter(bag) as writer:
        writer.write_frame(stamp, make_rgb(0), camera_k, truth=[make_estimate(1)])

    for topic in list_topics(bag):
        ((bag_time, msg),) = read_messages(bag, topic)
        assert bag_time == stamp
        assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == stamp


def test_list_topics_names_every_topic_with_its_type(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag, storage="sqlite3", image_topic="/cam/image") as writer:
        writer.write_frame(T0, make_rgb(0), camera_k)

    assert list_topics(bag) == {
        "/cam/image": "sensor_msgs/msg/Image",
        "/camera/camera_info": "sensor_msgs/msg/CameraInfo",
        "/ground_truth/humans": "nbf_ros/msg/HumanPoseArray",
    }


def test_frames_without_truth_still_create_the_truth_topic(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        writer.write_frame(T0, make_rgb(0), camera_k)

    (frame,) = read_frames(bag)
    assert frame.truth is None


def test_truth_topic_none_writes_no_truth_topic(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag, truth_topic=None) as writer:
        writer.write_frame(T0, make_rgb(0), camera_k)
        with pytest.raises(ValueError, match="truth_topic=None"):
            writer.write_frame(T0 + 1, make_rgb(1), camera_k, truth=[])

    assert "/ground_truth/humans" not in list_topics(bag)


@pytest.mark.parametrize("storage", STORAGES)
def test_generic_write_of_other_types_is_readable(tmp_path: Path, storage: str) -> None:
    types = nbf_typestore().types
    text = types["std_msgs/msg/String"](data="hello bag")
    markers = types["visualization_msgs/msg/MarkerArray"](markers=[])
    bag = tmp_path / "bag"
    with BagWriter(bag, storage=storage) as writer:
        writer.write("/notes", "std_msgs/msg/String", text, T0)
        writer.write("/notes", "std_msgs/msg/String", text, T0 + 5)
        writer.write("/markers", "visualization_msgs/msg/MarkerArray", markers, T0 + 1)

    assert list_topics(bag) == {"/notes": "std_msgs/msg/String",
                                "/markers": "visualization_msgs/msg/MarkerArray"}
    assert [(t, m.data) for t, m in read_messages(bag, "/notes")] == [
        (T0, "hello bag"), (T0 + 5, "hello bag")]
    ((stamp, received),) = read_messages(bag, "/markers")
    assert stamp == T0 + 1 and received.markers == []


def test_one_topic_carries_one_type(tmp_path: Path) -> None:
    types = nbf_typestore().types
    with BagWriter(tmp_path / "bag") as writer:
        writer.write("/t", "std_msgs/msg/String", types["std_msgs/msg/String"](data="a"), T0)
        with pytest.raises(ValueError, match="already carries std_msgs/msg/String"):
            writer.write("/t", "std_msgs/msg/Bool", types["std_msgs/msg/Bool"](data=True), T0)


def test_unknown_message_type_is_refused(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "bag") as writer, pytest.raises(ValueError, match="my_pkg"):
        writer.write("/t", "my_pkg/msg/Nothing", object(), T0)


@pytest.mark.parametrize("storage", STORAGES)
def test_bag_carries_its_message_definitions_and_hashes(
    tmp_path: Path, storage: str, camera_k: np.ndarray,
    make_rgb: Callable[[int], np.ndarray], make_estimate: Callable[..., HumanEstimate],
) -> None:
    # ROS 2 tools replay and introspect a bag from these alone, without nbf_ros installed.
    bag = tmp_path / "bag"
    with BagWriter(bag, storage=storage) as writer:
        writer.write_frame(T0, make_rgb(0), camera_k, truth=[make_estimate(1)])

    store = nbf_typestore()
    with Reader(bag) as reader:
        by_type = {c.msgtype: c for c in reader.connections}
        assert "nbf_ros/HumanPose" in by_type["nbf_ros/msg/HumanPoseArray"].msgdef.data
        for msgtype, connection in by_type.items():
            assert connection.digest == store.hash_rihs01(msgtype)


def test_existing_path_is_never_overwritten(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists"), BagWriter(bag):
        pass
    assert (bag / "keep.txt").read_text() == "mine"


def test_missing_parent_folders_are_created(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "runs" / "today" / "bag"
    with BagWriter(bag) as writer:
        writer.write_frame(T0, make_rgb(0), camera_k)
    assert len(list(read_frames(bag))) == 1


def test_frames_written_before_an_error_stay_readable(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with pytest.raises(RuntimeError, match="boom"), BagWriter(bag) as writer:
        writer.write_frame(T0, make_rgb(0), camera_k)
        raise RuntimeError("boom")
    assert len(list(read_frames(bag))) == 1


def test_bad_frame_input_writes_nothing_of_that_frame(
    tmp_path: Path, camera_k: np.ndarray, make_rgb: Callable[[int], np.ndarray]
) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        writer.write_frame(T0, make_rgb(0), camera_k)
        with pytest.raises(ValueError):
            writer.write_frame(T0 + 1, make_rgb(1), np.zeros((3, 3)))
    assert [stamp for stamp, _ in read_messages(bag, "/camera/image_raw")] == [T0]


def test_unknown_storage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown bag storage"):
        BagWriter(tmp_path / "bag", storage="rosbag1")  # type: ignore[arg-type]


def test_ros_type_support_decodes_every_message_of_the_bag(
    tmp_path: Path, rclpy_module: ModuleType, camera_k: np.ndarray,
    make_rgb: Callable[[int], np.ndarray], make_estimate: Callable[..., HumanEstimate],
) -> None:
    # The real ROS 2 C type support, not rosbags, reads the CDR bytes (skips without ROS).
    from rclpy.serialization import deserialize_message

    ros_classes = {
        "sensor_msgs/msg/Image": importlib.import_module("sensor_msgs.msg").Image,
        "sensor_msgs/msg/CameraInfo": importlib.import_module("sensor_msgs.msg").CameraInfo,
        "nbf_ros/msg/HumanPoseArray": importlib.import_module("nbf_ros.msg").HumanPoseArray,
    }
    person = make_estimate(1, track_id=5)
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        writer.write_frame(T0 + 7, make_rgb(0), camera_k, truth=[person])

    with Reader(bag) as reader:
        decoded = {c.msgtype: deserialize_message(bytes(raw), ros_classes[c.msgtype])
                   for c, _, raw in reader.messages()}
    for msg in decoded.values():
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == divmod(T0 + 7, 10**9)
    assert bytes(decoded["sensor_msgs/msg/Image"].data) == make_rgb(0).tobytes()
    np.testing.assert_array_equal(decoded["sensor_msgs/msg/CameraInfo"].k, camera_k.ravel())
    (pose,) = decoded["nbf_ros/msg/HumanPoseArray"].humans
    assert pose.track_id == 5 and list(pose.joint_names) == list(person.joint_names)
    np.testing.assert_array_equal([[p.x, p.y, p.z] for p in pose.joints], person.joints)
