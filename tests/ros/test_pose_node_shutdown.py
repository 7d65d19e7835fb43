"""How the pose node ends and fails: Ctrl-C while frames arrive or while it starts, and a
transition that raises. Each prints one clear line at most, never a traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from node_harness import (
    FAST,
    REPO_ROOT,
    NodeProcess,
    RosProbe,
    lifecycle_state,
    printed_never,
    ros_environment,
    stop_under_flood,
)


@pytest.mark.timeout(300)
def test_ctrl_c_while_frames_arrive_exits_0_without_an_error(rclpy_module, tmp_path: Path,  # noqa: ANN001
                                                             scene) -> None:
    node = NodeProcess(FAST, tmp_path, ros_environment(tmp_path), "ctrlc")
    status = stop_under_flood(RosProbe(rclpy_module, "ctrlc"), scene, node.stop)
    assert status == 0, node.log_text()
    assert not printed_never(node.log_text()), node.log_text()
    assert "stopping (SIGINT)" in node.log_text()


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("parent_ignores_sigint", [False, True])
def test_ctrl_c_while_the_node_starts_prints_no_traceback(tmp_path: Path,
                                                          parent_ignores_sigint: bool) -> None:
    # bin/pose_node is what `ros2 run` and launch start; importing torch takes seconds. A
    # parent that ignores SIGINT (a background shell, a test runner) passes that on: the
    # node hung through both signals in CI until it restored the default handler.
    log = tmp_path / "start.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, str(REPO_ROOT / "bin" / "pose_node")],
                                   cwd=tmp_path, env=ros_environment(tmp_path), stdout=out,
                                   stderr=subprocess.STDOUT,
                                   preexec_fn=_ignore_sigint if parent_ignores_sigint else None)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)  # a terminal's Ctrl-C, forwarded once more
    assert process.wait(timeout=60) == 0, log.read_text()
    assert not printed_never(log.read_text()), log.read_text()


@pytest.mark.timeout(200)
def test_a_transition_that_raises_logs_its_reason_and_the_node_stays_up(rclpy_module,  # noqa: ANN001
                                                                       tmp_path: Path) -> None:
    # Without the messages' C libraries on the library path, creating the poses publisher
    # raises UnsupportedTypeSupport inside configure, after the model loaded.
    env = ros_environment(tmp_path)
    env["LD_LIBRARY_PATH"] = ":".join(part for part in env.get("LD_LIBRARY_PATH", "").split(":")
                                      if part and not part.endswith(".ros_install/lib"))
    node = NodeProcess(FAST, tmp_path, env, "typesupport")
    probe = RosProbe(rclpy_module, "typesupport")
    try:
        node.wait_for_log("configure failed", timeout=120)
        assert "configure failed: UnsupportedTypeSupport" in node.log_text()
        node.wait_for_log("unconfigured again", timeout=10)
        assert lifecycle_state(probe) == "unconfigured"
        assert node.process.poll() is None
    finally:
        probe.close()
        assert node.stop() == 0, node.log_text()

