"""A HumanPoseArray crosses from one OS process to another through real rclpy DDS on loopback.

Both ends are helper scripts in fixtures/, started as separate processes, on a private ROS
domain of this test run (see the ros_env fixture). Every wait has a hard limit, so a DDS
problem fails the test instead of hanging CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

TOPIC = "humans/poses"


@contextmanager
def running_publisher(
    fixtures_dir: Path, env: dict[str, str], frame_id: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """publish_poses.py running for the duration of the block, then stopped with SIGTERM."""
    with log.open("wb") as log_file:
        command = [sys.executable, str(fixtures_dir / "publish_poses.py")]
        command += ["--topic", TOPIC, "--frame-id", frame_id, "--timeout", "90"]
        process = subprocess.Popen(
            command, cwd=fixtures_dir, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def receive(
    fixtures_dir: Path, env: dict[str, str], out: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run receive_poses.py to completion (killed if it outlives its own timeout)."""
    command = [sys.executable, str(fixtures_dir / "receive_poses.py")]
    command += ["--topic", TOPIC, "--out", str(out), "--timeout", str(timeout)]
    return subprocess.run(
        command, cwd=fixtures_dir, env=env, capture_output=True, text=True, timeout=timeout + 30
    )


@pytest.mark.timeout(180)
def test_pose_array_arrives_intact_in_another_process(
    tmp_path: Path, ros_env: dict[str, str], fixtures_dir: Path, pose_sample: ModuleType
) -> None:
    # A frame id unique to this run: only the message published here can match.
    frame_id = f"camera_{uuid.uuid4().hex[:8]}_optical_frame"
    out = tmp_path / "received.json"
    log = tmp_path / "publisher.log"

    with running_publisher(fixtures_dir, ros_env, frame_id, log) as publisher:
        received = receive(fixtures_dir, ros_env, out, timeout=45)

    assert received.returncode == 0, (
        f"receiver exit {received.returncode}:\n{received.stdout}{received.stderr}\n"
        f"publisher log:\n{log.read_text(errors='replace')}"
    )
    assert publisher.returncode == 0, (
        f"the publisher did not stop cleanly on SIGTERM (exit {publisher.returncode}):\n"
        f"{log.read_text(errors='replace')}")
    report = json.loads(out.read_text())
    expected = pose_sample.to_plain(pose_sample.make_pose_array(frame_id))
    pose_sample.assert_same(expected, report["message"], tol=1e-6)
    assert report["subscription_qos"]["reliability"] == "RELIABLE"
    assert report["publishers"] == [
        {"node": "pose_fixture_publisher", "reliability": "RELIABLE", "durability": "VOLATILE"}
    ]


@pytest.mark.timeout(120)
def test_other_domain_receives_nothing(
    tmp_path: Path, ros_env: dict[str, str], fixtures_dir: Path
) -> None:
    # The isolation that keeps parallel test runs apart: same host, same topic, another
    # ROS_DOMAIN_ID -> no delivery.
    other_domain = dict(ros_env, ROS_DOMAIN_ID=str(int(ros_env["ROS_DOMAIN_ID"]) % 101 + 1))
    out = tmp_path / "received.json"
    log = tmp_path / "publisher.log"

    with running_publisher(fixtures_dir, ros_env, "camera_optical_frame", log):
        received = receive(fixtures_dir, other_domain, out, timeout=5)

    assert received.returncode == 3, received.stdout + received.stderr
    assert not out.exists()
