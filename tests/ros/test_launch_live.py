"""launch/pose.launch.py run for real: `ros2 launch` (upstream launch and launch_ros) starts
the installed node, drives its lifecycle and stops it on Ctrl-C, as a user's terminal would.

Needs the ROS 2 launch tools, which scripts/setup_env.sh installs when
../shared/ros2-launch-tools lies beside the checkout (CI); elsewhere these tests skip and say
so. The package is the one `cmake --install` puts into a prefix, with the source tree off the
path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from node_harness import (
    FAST,
    LoggedProcess,
    RosProbe,
    launch_environment,
    lifecycle_state,
    printed_never,
    send_good_frame,
    stop_under_flood,
    transition,
)

from nbf_ros.replay.live import write_params

# The launch file drives the lifecycle itself.
LAUNCH_PARAMS = dict(FAST, autostart=False)


class Terminal(LoggedProcess):
    """A command run as a shell runs it in the foreground; ``interrupt`` is Ctrl-C, a SIGINT
    to every process of its group."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        super().__init__(command, env, log, new_session=True)

    def interrupt(self, times: int = 1, timeout: float = 40.0) -> int:
        """Ctrl-C ``times`` times, 0.2 s apart; the exit status (killed after ``timeout``)."""
        for i in range(times):
            if i:
                time.sleep(0.2)
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            pytest.fail(f"still running {timeout} s after Ctrl-C:\n{self.log_text()}")


def rviz2_installed(env: dict[str, str]) -> bool:
    """Whether the ament index of ``env`` has rviz2 (then rviz:=true would open a window)."""
    return any((Path(prefix) / "share" / "ament_index" / "resource_index" / "packages" /
                "rviz2").is_file() for prefix in env["AMENT_PREFIX_PATH"].split(":"))


def launch(env: dict[str, str], workdir: Path, *arguments: str) -> Terminal:
    """`ros2 launch nbf_ros pose.launch.py` with the test's fast parameters."""
    params = write_params(workdir / "launch_params.yaml", LAUNCH_PARAMS)
    command = ["ros2", "launch", "nbf_ros", "pose.launch.py", f"params_file:={params}",
               *arguments]
    return Terminal(command, env, workdir / "launch.log")


@pytest.fixture(scope="module")
def launched(rclpy_module, installed_prefix: Path,  # noqa: ANN001, ANN201
             tmp_path_factory: pytest.TempPathFactory, repo_root: Path):
    """One launch in the namespace `left` with the default (relative) camera topics and
    rviz:=true where rviz2 is missing, and a probe publishing the camera in that namespace."""
    workdir = tmp_path_factory.mktemp("launch")
    env = launch_environment(repo_root, installed_prefix, workdir)
    rviz = [] if rviz2_installed(env) else ["rviz:=true"]
    terminal = launch(env, workdir, "namespace:=left", *rviz)
    probe = RosProbe(rclpy_module, "left", image_topic="camera/image_raw",
                     camera_info_topic="camera/camera_info")
    try:
        yield terminal, probe, bool(rviz)
    finally:
        probe.close()
        try:
            status = terminal.interrupt()
        finally:
            terminal.kill()
        assert status == 0, terminal.log_text()


@pytest.mark.timeout(300)
def test_launch_brings_the_node_to_active_with_its_inputs_in_the_namespace(launched,  # noqa: ANN001
                                                                          scene) -> None:
    terminal, probe, _ = launched
    # namespace:=left moved the inputs too.
    terminal.wait_for_log("active: listening on /left/camera/image_raw", timeout=150)
    probe.wait_connected()
    assert lifecycle_state(probe) == "active"
    probe.wait_for_poses(send_good_frame(probe, scene))
    assert not printed_never(terminal.log_text())


@pytest.mark.timeout(300)
def test_deactivate_through_launch_stays_inactive_and_cleanup_follows(launched) -> None:  # noqa: ANN001
    terminal, probe, _ = launched
    terminal.wait_for_log("active: listening", timeout=150)
    probe.wait_connected()
    assert transition(probe, "deactivate")
    time.sleep(3.0)  # the launch file's handler would have re-activated by now
    assert lifecycle_state(probe) == "inactive"
    assert transition(probe, "cleanup")
    assert lifecycle_state(probe) == "unconfigured"
    terminal.wait_for_log("unconfigured: model and publishers freed", timeout=10)
    assert "inactive: unsubscribed" in terminal.log_text()


@pytest.mark.timeout(300)
def test_rviz_without_rviz2_is_one_line_and_the_node_runs_on(launched) -> None:  # noqa: ANN001
    terminal, probe, asked = launched
    if not asked:
        pytest.skip("rviz2 is installed here, so rviz:=true would open RViz")
    terminal.wait_for_log("active: listening", timeout=150)
    assert "rviz2 is not installed" in terminal.log_text()
    assert not printed_never(terminal.log_text())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("argument", ["log_level:=verbose", "rviz:=yes", "use_sim_time:=1",
                                      "image_transport:=theora"])
def test_launch_refuses_a_value_outside_an_arguments_choices(launch_env: dict[str, str],  # noqa: ANN001
                                                             tmp_path: Path,
                                                             argument: str) -> None:
    terminal = launch(launch_env, tmp_path, argument)
    try:
        assert terminal.process.wait(timeout=50) != 0
    finally:
        terminal.kill()
    output = terminal.log_text()
    name = argument.split(":=")[0]
    assert f'Argument "{name}"' in output and "is not valid" in output, output
    assert "process started" not in output, output


@pytest.mark.timeout(300)
def test_ctrl_c_while_frames_arrive_stops_cleanly(launch_env: dict[str, str], tmp_path: Path,  # noqa: ANN001
                                                  rclpy_module, scene) -> None:
    terminal = launch(launch_env, tmp_path, "namespace:=ctrlc")
    try:
        terminal.wait_for_log("active: listening", timeout=150)
        probe = RosProbe(rclpy_module, "ctrlc", image_topic="camera/image_raw",
                         camera_info_topic="camera/camera_info")
        status = stop_under_flood(probe, scene, terminal.interrupt)
    finally:
        terminal.kill()
    output = terminal.log_text()
    assert status == 0, output
    assert not printed_never(output), output
    assert "process has finished cleanly" in output, output


@pytest.mark.timeout(300)
def test_ros2_run_survives_a_double_ctrl_c_without_a_traceback(launch_env: dict[str, str],  # noqa: ANN001
                                                               tmp_path: Path) -> None:
    params = write_params(tmp_path / "params.yaml", FAST)  # autostart: configure, activate
    terminal = Terminal(["ros2", "run", "nbf_ros", "pose_node", "--ros-args", "--params-file",
                         str(params), "-r", "__ns:=/run"], launch_env, tmp_path / "run.log")
    try:
        terminal.wait_for_log("active: listening on /run/image", timeout=150)
        status = terminal.interrupt(times=2)
    finally:
        terminal.kill()
    output = terminal.log_text()
    assert status == 0, output
    assert not printed_never(output), output
