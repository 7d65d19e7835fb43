"""The bag player is a ROS program like any other: its topics take ROS remappings."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from node_harness import REPO_ROOT, RosProbe, ros_environment

from nbf_ros.io.bag_writer import BagWriter


@pytest.mark.timeout(120)
def test_bag_player_publishes_on_remapped_topics(rclpy_module, tmp_path: Path) -> None:  # noqa: ANN001
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    bag = tmp_path / "bag"
    K = np.array([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])
    with BagWriter(bag, truth_topic=None) as writer:
        for i in range(3):
            writer.write_frame(1_000_000_000 + i * 100_000_000,
                               np.full((48, 64, 3), 40 * i, np.uint8), K)
    probe = RosProbe(rclpy_module, "player")
    received: list[Image] = []
    probe.node.create_subscription(Image, "/left/image_raw", received.append,
                                   qos_profile_sensor_data)
    try:
        played = subprocess.run(
            [sys.executable, "-m", "nbf_ros.ros.bag_player", str(bag), "--wait-subscribers", "1",
             "--wait-timeout", "60", "--start-delay", "0.5", "--ros-args",
             "-r", "image:=/left/image_raw", "-r", "camera_info:=/left/camera_info"],
            cwd=REPO_ROOT, env=ros_environment(tmp_path), capture_output=True, text=True,
            timeout=90)
        assert played.returncode == 0, played.stdout + played.stderr
        assert "sent 3 frames" in played.stdout
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received and received[0].width == 64
    finally:
        probe.close()
