"""The pose node survives bad input: each bad frame is dropped with a clear, throttled log line
and a diagnostics warning, and the next good frame is served as if nothing happened.

The node runs in its own process (real DDS on loopback); the test process feeds it through
an rclpy probe node. Every case ends by sending a good synthetic frame and waiting for its
poses, which is what "keeps serving" means.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from node_harness import (
    FAST,
    RELIABLE,
    WIDTH,
    NodeProcess,
    RosProbe,
    camera_info,
    image,
    next_stamp,
    ros_environment,
    ros_time,
    send_good_frame,
)


def assert_still_serving(probe: RosProbe, node: NodeProcess, scene) -> None:  # noqa: ANN001
    """The node is alive and answers a good frame with its poses."""
    assert node.process.poll() is None, node.log_text()
    stamp = send_good_frame(probe, scene)
    poses = probe.wait_for_poses(stamp)
    assert poses.header.frame_id == "camera_optical_frame"


def assert_rejected(probe: RosProbe, node: NodeProcess, scene, mark: int, stamp: int,  # noqa: ANN001
                    reason: str, says: str) -> None:
    """The frame stamped ``stamp`` got no poses, diagnostics (since ``mark``) warned with
    ``reason``, the log explains it (``says``), and the node still serves good frames."""
    diagnostics = probe.diagnostics_since(mark)
    assert int(diagnostics["level"]) >= 1, diagnostics  # WARN
    assert reason in diagnostics["message"] and says in diagnostics["message"], diagnostics
    assert int(diagnostics[f"rejected: {reason}"]) >= 1, diagnostics
    assert says in node.log_text()
    assert_still_serving(probe, node, scene)
    assert not probe.poses_with_stamp(stamp)


@pytest.fixture(scope="module")
def served(rclpy_module, tmp_path_factory: pytest.TempPathFactory, scene  # noqa: ANN001
           ) -> Iterator[tuple[RosProbe, NodeProcess]]:
    """A running node that has already served one good frame, and the probe feeding it."""
    workdir = tmp_path_factory.mktemp("node_input")
    node = NodeProcess(RELIABLE, workdir, ros_environment(workdir), "input")
    probe = RosProbe(rclpy_module, "input", reliable_images=True)
    try:
        probe.wait_connected()
        assert_still_serving(probe, node, scene)
        yield probe, node
    finally:
        probe.close()
        assert node.stop() == 0, node.log_text()


@pytest.mark.timeout(240)
class TestBadImages:
    def test_unsupported_encoding_is_dropped(self, served, scene) -> None:  # noqa: ANN001
        probe, node = served
        mark, stamp = probe.mark(), next_stamp()
        probe.image_pub.publish(image(scene.image, stamp, encoding="yuv422"))
        assert_rejected(probe, node, scene, mark, stamp, "bad image", "unsupported image encoding")

    def test_data_length_not_matching_step_times_height_is_dropped(self, served, scene) -> None:  # noqa: ANN001
        probe, node = served
        mark, stamp = probe.mark(), next_stamp()
        probe.image_pub.publish(image(scene.image, stamp, data=scene.image.tobytes()[:-7]))
        assert_rejected(probe, node, scene, mark, stamp, "bad image", "expected step x height")

    def test_step_smaller_than_a_row_is_dropped(self, served, scene) -> None:  # noqa: ANN001
        probe, node = served
        mark, stamp = probe.mark(), next_stamp()
        probe.image_pub.publish(image(scene.image, stamp, step=WIDTH * 3 - 3))
        assert_rejected(probe, node, scene, mark, stamp, "bad image", "is smaller than one row")

    def test_zero_size_image_is_dropped(self, served, scene) -> None:  # noqa: ANN001
        probe, node = served
        mark, stamp = probe.mark(), next_stamp()
        probe.image_pub.publish(image(scene.image, stamp, width=0, height=0, step=0, data=b""))
        assert_rejected(probe, node, scene, mark, stamp, "bad image", "0 x 0")

    def test_huge_image_is_refused_before_decoding(self, served, scene) -> None:  # noqa: ANN001
        probe, node = served
        mark, stamp = probe.mark(), next_stamp()
        huge = np.zeros((6000, 8000, 1), dtype=np.uint8)  # 48 MB of mono8
        probe.image_pub.publish(image(huge, stamp, encoding="mono8", step=8000))
        assert_rejected(probe, node, scene, mark, stamp, "bad image", "8000 x 6000")

    def test_long_strips_are_refused_in_one_line(self, served, scene) -> None:  # noqa: ANN001
        # Issue 32: a 10000 x 3 frame reached detection, whose downscaled frame had a side of
        # no pixels: an ERROR with a traceback for each.
        probe, node = served
        mark, start = probe.mark(), len(node.log_text())
        stamps = []
        for width, height in ((10_000, 3), (3, 10_000)):
            stamps.append(next_stamp())
            probe.image_pub.publish(image(np.zeros((height, width, 3), np.uint8), stamps[-1]))
            time.sleep(0.3)
        diagnostics = probe.diagnostics_since(mark)
        assert "is a strip" in diagnostics["message"], diagnostics
        assert_still_serving(probe, node, scene)
        log = node.log_text()[start:]
        assert log.count("is a strip") == 1 and "Traceback" not in log and "ERROR" not in log
        assert not any(probe.poses_with_stamp(stamp) for stamp in stamps)


@pytest.mark.timeout(240)
class TestBadCameraInfo:
    @pytest.mark.parametrize("focal", [0.0, math.nan], ids=["zero", "nan"])
    def test_unusable_focal_length_drops_frames_until_a_valid_one(
            self, served, scene, focal: float) -> None:  # noqa: ANN001
        probe, node = served
        mark, stamp = probe.mark(), next_stamp()
        K = scene.K.copy()
        K[0, 0] = K[1, 1] = focal
        probe.info_pub.publish(camera_info(K, stamp))
        time.sleep(0.2)
        probe.image_pub.publish(image(scene.image, stamp))
        assert_rejected(probe, node, scene, mark, stamp, "camera_info", "invalid camera_info")

    def test_camera_info_for_another_size_drops_the_frame(self, served, scene) -> None:  # noqa: ANN001
        probe, node = served
        mark, stamp = probe.mark(), next_stamp()
        probe.info_pub.publish(camera_info(scene.K, stamp, width=640, height=480))
        time.sleep(0.2)
        probe.image_pub.publish(image(scene.image, stamp))
        assert_rejected(probe, node, scene, mark, stamp, "camera_info size", "640 x 480")


@pytest.mark.timeout(240)
class TestLoad:
    def test_a_burst_of_1000_frames_in_a_second_is_dropped_not_queued(
            self, served, scene) -> None:  # noqa: ANN001
        probe, node = served
        small = np.asarray(scene.image[::4, ::4])
        rss_before = node.rss_mb()
        mark = probe.mark()
        # One real frame first: its cold fit keeps the worker busy while the burst arrives,
        # however quickly the small frames themselves would be refused.
        probe.image_pub.publish(image(scene.image, next_stamp()))
        time.sleep(0.05)
        first = next_stamp()
        start = time.monotonic()
        for i in range(1000):
            probe.image_pub.publish(image(small, first + i))  # no camera_info for this size
            time.sleep(max(0.0, start + (i + 1) / 1000 - time.monotonic()))
        diagnostics = probe.diagnostics_since(mark, settle=1.5)
        received = int(diagnostics["frames received"])
        handled = int(diagnostics["frames rejected"]) + int(diagnostics["frames published"])
        dropped = int(diagnostics["frames dropped (busy)"])
        assert dropped > 0, diagnostics
        # Every frame either reached the worker or was dropped: nothing waits in a queue.
        assert received - dropped - handled <= 1, diagnostics
        assert node.rss_mb() - rss_before < 100
        assert_still_serving(probe, node, scene)

    def test_repeated_warnings_are_throttled_in_the_log(self, served, scene) -> None:  # noqa: ANN001
        probe, node = served
        marker = "unsupported image encoding 'bayer_rggb16'"
        mark = probe.mark()
        for _ in range(20):
            probe.image_pub.publish(image(scene.image, next_stamp(), encoding="bayer_rggb16"))
            time.sleep(0.02)
        diagnostics = probe.diagnostics_since(mark)
        assert marker in diagnostics["message"]
        assert 1 <= node.log_text().count(marker) <= 2  # log_throttle is 5 s
        assert_still_serving(probe, node, scene)


@pytest.mark.timeout(240)
def test_image_before_any_camera_info_waits_for_intrinsics(
        rclpy_module, tmp_path: Path, scene) -> None:  # noqa: ANN001
    node = NodeProcess(FAST, tmp_path, ros_environment(tmp_path), "fresh")
    probe = RosProbe(rclpy_module, "fresh")
    try:
        probe.wait_connected()
        mark, stamp = probe.mark(), next_stamp()
        probe.image_pub.publish(image(scene.image, stamp))
        assert_rejected(probe, node, scene, mark, stamp, "camera_info",
                        "no camera_info received yet")
    finally:
        probe.close()
        assert node.stop() == 0, node.log_text()


@pytest.mark.timeout(240)
def test_corrupt_compressed_image_is_dropped(rclpy_module, tmp_path: Path, scene) -> None:  # noqa: ANN001
    from sensor_msgs.msg import CompressedImage

    from nbf_ros.io.image_codec import encode_compressed

    node = NodeProcess(dict(FAST, image_transport="compressed"), tmp_path,
                       ros_environment(tmp_path), "compressed")
    probe = RosProbe(rclpy_module, "compressed")
    try:
        probe.wait_connected()
        jpeg = encode_compressed(scene.image, "jpeg")
        mark, bad = probe.mark(), next_stamp()
        probe.info_pub.publish(camera_info(scene.K, bad))
        msg = CompressedImage(format="jpeg", data=jpeg[: len(jpeg) // 3] + b"\x00" * 64)
        msg.header.stamp = ros_time(bad)
        probe.compressed_pub.publish(msg)
        diagnostics = probe.diagnostics_since(mark)
        assert "bad image" in diagnostics["message"], diagnostics
        good = next_stamp()
        probe.info_pub.publish(camera_info(scene.K, good))
        msg = CompressedImage(format="jpeg", data=jpeg)
        msg.header.stamp = ros_time(good)
        probe.compressed_pub.publish(msg)
        assert probe.wait_for_poses(good).header.frame_id == ""  # CompressedImage header as sent
        assert not probe.poses_with_stamp(bad)
        assert node.process.poll() is None
    finally:
        probe.close()
        assert node.stop() == 0, node.log_text()


@pytest.mark.timeout(240)
def test_non_finite_fit_drops_the_person_not_the_node(
        rclpy_module, tmp_path: Path, scene) -> None:  # noqa: ANN001
    from nbf_ros.vision.weights import DEFAULT_MODEL, resolve_model_path

    # A model whose kernel features are NaN: detection and regression still work, every
    # fit turns to NaN.
    data = torch.load(resolve_model_path(DEFAULT_MODEL), map_location="cpu", weights_only=True)
    data["kernel_features"] = torch.full_like(data["kernel_features"], math.nan)
    broken = tmp_path / "nan_model.pt"
    torch.save(data, broken)
    node = NodeProcess(dict(FAST, model=str(broken)), tmp_path, ros_environment(tmp_path),
                       "nanfit")
    probe = RosProbe(rclpy_module, "nanfit")
    try:
        probe.wait_connected()
        mark = probe.mark()
        stamp = send_good_frame(probe, scene)
        poses = probe.wait_for_poses(stamp)
        assert len(poses.humans) == 0
        diagnostics = probe.diagnostics_since(mark)
        assert int(diagnostics["non-finite fits dropped"]) >= 1, diagnostics
        assert "NaN or infinite" in node.log_text()
        assert node.process.poll() is None
    finally:
        probe.close()
        assert node.stop() == 0, node.log_text()


@pytest.mark.timeout(240)
def test_an_invalid_camera_info_is_logged_once_per_message_not_per_frame(
        rclpy_module, tmp_path: Path, scene) -> None:  # noqa: ANN001
    # No throttle: every line the node would log shows.
    node = NodeProcess(dict(RELIABLE, log_throttle=0.0), tmp_path, ros_environment(tmp_path),
                       "caminfo")
    probe = RosProbe(rclpy_module, "caminfo", reliable_images=True)
    try:
        probe.wait_connected()
        probe.wait_for_poses(send_good_frame(probe, scene))
        K = scene.K.copy()
        K[0, 0] = 0.0
        stamps = [next_stamp() for _ in range(2)]
        for stamp in stamps:
            probe.info_pub.publish(camera_info(K, stamp))
            time.sleep(0.2)
            probe.image_pub.publish(image(scene.image, stamp))
        diagnostics = probe.diagnostics_since(probe.mark(), settle=1.5)
        assert int(diagnostics["rejected: camera_info"]) == 2, diagnostics  # both frames lost
        lines = [line for line in node.log_text().splitlines() if "invalid camera_info" in line]
        # One line per camera_info message, saying what it costs; none per frame.
        assert len(lines) == 2 and all("camera_info refused" in line for line in lines), lines
        assert all("frames are dropped until a valid one arrives" in line for line in lines)
        assert_still_serving(probe, node, scene)
    finally:
        probe.close()
        assert node.stop() == 0, node.log_text()
