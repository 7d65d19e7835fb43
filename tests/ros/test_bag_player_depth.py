"""The bag player with --depth-topic (issue 31): a bag's registered depth reaches the node's
'depth' topic, restamped with its colour frame's shift, so the node's own pairing
(nbf_ros.stream.depth_stream) finds each frame's depth with its recorded offset."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from node_harness import REPO_ROOT, RosProbe, ros_environment

from nbf_ros.io.bag_writer import BagWriter
from nbf_ros.io.depth_image import DEPTH_TOPIC, write_depth
from nbf_ros.stream.depth_stream import DepthStream

K = np.array([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])
MS = 1_000_000
# Depth stamped a few ms after or before its colour frame, as a camera's two streams are.
OFFSETS_MS = (3, -4, 6, -2)


def write_rgbd_bag(path: Path) -> None:
    """Four 64 x 48 colour frames 100 ms apart, each with a flat depth of 1.0 + 0.5 i m."""
    with BagWriter(path, truth_topic=None) as writer:
        for i, offset in enumerate(OFFSETS_MS):
            stamp = 1_000_000_000 + i * 100 * MS
            writer.write_frame(stamp, np.full((48, 64, 3), 40 * i, np.uint8), K)
            write_depth(writer, stamp + offset * MS, np.full((48, 64), 1.0 + 0.5 * i,
                                                            np.float32), K)


@pytest.mark.timeout(120)
def test_the_player_replays_depth_that_the_node_pairs_with_its_frames(
        rclpy_module, tmp_path: Path) -> None:  # noqa: ANN001
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    bag = tmp_path / "bag"
    write_rgbd_bag(bag)
    probe = RosProbe(rclpy_module, "bagdepth")
    images: list[Image] = []
    depths: list[Image] = []
    probe.node.create_subscription(Image, "/rgbd/depth", depths.append, qos_profile_sensor_data)
    probe.node.create_subscription(Image, "/rgbd/image", images.append, qos_profile_sensor_data)
    try:
        played = subprocess.run(
            [sys.executable, "-m", "nbf_ros.ros.bag_player", str(bag), "--wait-subscribers", "1",
             "--wait-timeout", "60", "--start-delay", "3.0", "--depth-topic", DEPTH_TOPIC,
             "--ros-args", "-r", "image:=/rgbd/image", "-r", "camera_info:=/rgbd/camera_info",
             "-r", "depth:=/rgbd/depth"],
            cwd=REPO_ROOT, env=ros_environment(tmp_path), capture_output=True, text=True,
            timeout=90)
        assert played.returncode == 0, played.stdout + played.stderr
        deadline = time.monotonic() + 5
        while (len(images) < 4 or len(depths) < 4) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        probe.close()
    assert len(images) == 4 and len(depths) == 4
    stream = DepthStream(slop_s=0.02, timeout_s=10.0)
    for msg in depths:
        stream.put(msg)
    for i, image in enumerate(images):
        stamp = image.header.stamp.sec * 1_000_000_000 + image.header.stamp.nanosec
        got = stream.for_frame(stamp, 48, 64, K)
        assert got.depth is not None, got.message
        # Its own frame's depth (mm in 16UC1), offset from the restamped frame as recorded.
        assert float(np.median(got.depth)) == pytest.approx(1.0 + 0.5 * i, abs=1e-3)
        assert got.offset_ns == OFFSETS_MS[i] * MS


def test_a_depth_topic_missing_from_the_bag_is_a_usage_error(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag, truth_topic=None) as writer:
        writer.write_frame(1_000_000_000, np.zeros((48, 64, 3), np.uint8), K)
    played = subprocess.run(
        [sys.executable, "-m", "nbf_ros.ros.bag_player", str(bag), "--depth-topic", DEPTH_TOPIC],
        cwd=REPO_ROOT, env=ros_environment(tmp_path), capture_output=True, text=True,
        timeout=60)
    assert played.returncode == 2
    assert f"topic {DEPTH_TOPIC} not in" in played.stderr
    assert "Traceback" not in played.stderr
