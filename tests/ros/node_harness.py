"""The pose node in its own process, and an in-process rclpy probe that feeds and watches it
(shared by the node tests of tests/ros/)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from nbf_ros.replay.live import replay_environment, stop_process, write_params

REPO_ROOT = Path(__file__).resolve().parents[2]

# Few fitting steps: these tests are about the node's behaviour, not the fit's accuracy.
FAST = {"autostart": True, "fit_iterations": 5, "tracking_iterations": 3,
        "diagnostics_period": 0.3, "cpu_threads": 1}
# Reliable image delivery (the image_reliability override): a 48 MB best-effort message is
# lost in fragments over loopback before the node could refuse it.
RELIABLE = dict(FAST, image_reliability="reliable")
WIDTH, HEIGHT = 320, 240

_stamps = iter(range(1_000, 10**9))


def next_stamp() -> int:
    """A stamp (ns) no other frame of this run uses."""
    return 1_800_000_000 * 10**9 + next(_stamps) * 10**6


def ros_time(stamp_ns: int):  # noqa: ANN201 - builtin_interfaces/Time
    from builtin_interfaces.msg import Time

    return Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)


def camera_info(K: np.ndarray, stamp_ns: int, width: int = WIDTH, height: int = HEIGHT):  # noqa: ANN201
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    msg.header.stamp = ros_time(stamp_ns)
    msg.header.frame_id = "camera_optical_frame"
    msg.k = [float(v) for v in np.asarray(K, dtype=np.float64).reshape(9)]
    msg.d = [0.0] * 5
    return msg


def image(rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8", step: int | None = None,
          data: bytes | None = None, width: int | None = None, height: int | None = None):  # noqa: ANN201
    from sensor_msgs.msg import Image

    h, w = rgb.shape[:2]
    msg = Image(height=h if height is None else height, width=w if width is None else width,
                encoding=encoding, is_bigendian=0, step=3 * w if step is None else step,
                data=rgb.tobytes() if data is None else data)
    msg.header.stamp = ros_time(stamp_ns)
    msg.header.frame_id = "camera_optical_frame"
    return msg


def send_good_frame(probe: RosProbe, scene) -> int:  # noqa: ANN001
    """Publish camera_info and the scene image; the stamp they carry."""
    stamp = next_stamp()
    probe.info_pub.publish(camera_info(scene.K, stamp))
    time.sleep(0.05)
    probe.image_pub.publish(image(scene.image, stamp))
    return stamp


def ros_environment(log_dir: Path) -> dict[str, str]:
    """Environment for ROS processes of this test run: the replay's private, host-only set-up
    (nbf_ros.replay.live.replay_environment) on this run's domain, so parallel runs on one
    machine do not see each other. Logs go to log_dir."""
    return replay_environment(log_dir, domain_id())


def launch_environment(repo_root: Path, prefix: Path, log_dir: Path) -> dict[str, str]:
    """ros_environment() in which `ros2 launch nbf_ros ...` and `ros2 run nbf_ros ...` use
    the package installed in ``prefix`` (the source tree off the path); a skip saying why
    where the ROS 2 launch tools are not installed (scripts/setup_env.sh installs them from
    ../shared/ros2-launch-tools when that folder exists)."""
    tools = repo_root / ".ros_launch_tools"
    venv = repo_root / ".venv"
    if (shutil.which("ros2", path=str(venv / "bin")) is None
            or not (tools / "share" / "composition_interfaces").is_dir()):
        pytest.skip("the ROS 2 launch tools are not installed (no ../shared/ros2-launch-tools "
                    "beside the checkout when scripts/setup_env.sh ran), so ros2 launch "
                    "cannot run here")
    env = ros_environment(log_dir)
    site = next(prefix.glob("lib/python3*/site-packages"))
    tools_site = next(tools.glob("lib/python3*/site-packages"))
    env.update(AMENT_PREFIX_PATH=f"{prefix}:{tools}:{venv}", PYTHONPATH=f"{site}:{tools_site}",
               # After the prefix: the ROS wheels' own library folders, which the venv's
               # bootstrap added to this process's path before it ran.
               LD_LIBRARY_PATH=f"{prefix / 'lib'}:{tools / 'lib'}:{env.get('LD_LIBRARY_PATH', '')}",
               PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    return env


def domain_id() -> int:
    """The ROS domain of this test run (see ros_environment)."""
    return 1 + os.getpid() % 101


class LoggedProcess:
    """A command in a process of its own, its output in a log file; with ``new_session`` in a
    process group of its own, as a shell runs a foreground command."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path,
                 new_session: bool = False) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT,
                                            start_new_session=new_session)

    def log_text(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL (its whole group when it has one) unless it has ended."""
        if self.process.poll() is None:
            if os.getpgid(self.process.pid) == self.process.pid:
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.kill()
            self.process.wait()

    def wait_for_log(self, text: str, timeout: float) -> None:
        """Block until the log contains ``text``; fail with the log on timeout or exit."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"never logged {text!r} (exit {self.process.poll()}):\n"
                            f"{self.log_text()}")
            time.sleep(0.1)


class NodeProcess(LoggedProcess):
    """The pose node (python -m nbf_ros.ros.pose_node) in its own process, logging to a file."""

    def __init__(self, params: dict, workdir: Path, env: dict[str, str],
                 namespace: str) -> None:
        self.params_file = write_params(workdir / f"{namespace}_params.yaml", params)
        command = [sys.executable, "-m", "nbf_ros.ros.pose_node", "--ros-args",
                   "--params-file", str(self.params_file), "-r", f"__ns:=/{namespace}"]
        super().__init__(command, env, workdir / f"{namespace}.log")

    def rss_mb(self) -> float:
        """Resident memory of the node process, MiB (Linux /proc)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")

    def threads(self) -> int:
        """Threads of the node process, native ones included (Linux /proc)."""
        return len(list(Path(f"/proc/{self.process.pid}/task").iterdir()))

    def stop(self) -> int:
        """SIGINT, as Ctrl-C would; its exit status."""
        return stop_process(self.process)


# What a clean stop never prints: the ERROR of a frame published into a dead context, its
# traceback, a C++ abort.
NEVER = ("ERROR", "Traceback", "terminate called", "KeyboardInterrupt")


def printed_never(output: str) -> list[str]:
    """The lines of ``output`` a clean run must not print (NEVER)."""
    return [line for line in output.splitlines() if any(word in line for word in NEVER)]


def flood_until_answered(probe: RosProbe, scene, answered: int = 3,  # noqa: ANN001
                         timeout: float = 60.0) -> Flood:
    """A 30 Hz Flood, returned once the node answered ``answered`` frames (its worker is
    then busy with the next)."""
    flood = Flood(probe, scene, rate=30.0)
    deadline = time.monotonic() + timeout
    while len(probe.poses) < answered:
        if time.monotonic() > deadline:
            flood.close()
            pytest.fail(f"the node answered {len(probe.poses)} frames of a flood in {timeout} s")
        time.sleep(0.1)
    return flood



def stop_under_flood(probe: RosProbe, scene, stop: Callable[[], int]) -> int:  # noqa: ANN001
    """The exit status ``stop()`` gives while a flood keeps the node busy (Ctrl-C with frames
    arriving); the probe is closed afterwards."""
    flood = None
    try:
        probe.wait_connected()
        flood = flood_until_answered(probe, scene)
        return stop()
    finally:
        if flood is not None:
            flood.close()
        probe.close()


class Flood:
    """Publishes camera_info and the scene's image at ``rate`` Hz from a thread of its own
    until closed (a camera that keeps sending while the node changes state)."""

    def __init__(self, probe: RosProbe, scene, rate: float = 100.0) -> None:  # noqa: ANN001
        self.sent = 0
        self._stop = threading.Event()

        def send() -> None:
            while not self._stop.wait(1.0 / rate):
                stamp = next_stamp()
                probe.info_pub.publish(camera_info(scene.K, stamp))
                probe.image_pub.publish(image(scene.image, stamp))
                self.sent += 1

        self._thread = threading.Thread(target=send, name="flood", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop publishing."""
        self._stop.set()
        self._thread.join()


class RosProbe:
    """An rclpy node inside the test process that feeds the pose node and collects its output.

    It runs on its own context and executor thread, so tests can publish and then wait.
    """

    def __init__(self, rclpy: ModuleType, namespace: str, reliable_images: bool = False,
                 image_topic: str = "image", camera_info_topic: str = "camera_info") -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image

        from nbf_ros.msg import HumanPoseArray

        # Discovery settings are read from the environment when the context starts.
        os.environ.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_LOCALHOST_ONLY="1")
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id())
        self.namespace = namespace
        self.node = rclpy.create_node("nbf_test_probe", namespace=f"/{namespace}",
                                      context=self.context)
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        image_qos = (QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
                     if reliable_images else qos_profile_sensor_data)
        self.image_pub = self.node.create_publisher(Image, image_topic, image_qos)
        self.compressed_pub = self.node.create_publisher(CompressedImage,
                                                         f"{image_topic}/compressed",
                                                         qos_profile_sensor_data)
        self.info_pub = self.node.create_publisher(CameraInfo, camera_info_topic, image_qos)
        self.poses: list = []
        self.markers: list = []
        self.diagnostics: list = []
        self._lock = threading.Lock()
        self.node.create_subscription(HumanPoseArray, "humans/poses",
                                      lambda m: self._keep(self.poses, m), reliable)
        from visualization_msgs.msg import MarkerArray

        self.node.create_subscription(MarkerArray, "humans/markers",
                                      lambda m: self._keep(self.markers, m), reliable)
        # /diagnostics is shared by every node: keep only this namespace's reports.
        self.node.create_subscription(
            DiagnosticArray, "/diagnostics", lambda m: self._keep(self.diagnostics, m)
            if m.status and m.status[0].name.startswith(f"/{namespace}/") else None, reliable)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _keep(self, store: list, msg: object) -> None:
        with self._lock:
            store.append(msg)

    def wait_connected(self, timeout: float = 90.0) -> None:
        """Until the pose node subscribes to the image topics and publishes poses."""
        deadline = time.monotonic() + timeout
        while (self.image_pub.get_subscription_count() + self.compressed_pub
               .get_subscription_count() == 0 or self.info_pub.get_subscription_count() == 0
               or self.node.count_publishers("humans/poses") == 0):
            if time.monotonic() > deadline:
                pytest.fail("the pose node never connected to the probe")
            time.sleep(0.05)
        time.sleep(0.5)  # the reverse direction of discovery (poses -> probe) settles too

    def poses_with_stamp(self, stamp_ns: int) -> list:
        """Received HumanPoseArrays stamped exactly ``stamp_ns``."""
        with self._lock:
            return [m for m in self.poses
                    if m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == stamp_ns]

    def wait_for_poses(self, stamp_ns: int, timeout: float = 90.0):  # noqa: ANN201
        """The HumanPoseArray for the frame stamped ``stamp_ns`` (fails on timeout)."""
        deadline = time.monotonic() + timeout
        while not self.poses_with_stamp(stamp_ns):
            if time.monotonic() > deadline:
                pytest.fail(f"no humans/poses for the frame stamped {stamp_ns} within "
                            f"{timeout} s")
            time.sleep(0.05)
        return self.poses_with_stamp(stamp_ns)[0]

    def mark(self) -> int:
        """A bookmark in the /diagnostics reports received so far (take it before sending)."""
        with self._lock:
            return len(self.diagnostics)

    def diagnostics_since(self, mark: int, settle: float = 0.8,
                          timeout: float = 30.0) -> dict[str, str]:
        """Key-values of the newest /diagnostics report after ``settle`` seconds, with
        "level" and "message" merged over every report since ``mark``."""
        time.sleep(settle)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = self.diagnostics[mark:]
            if seen:
                break
            if time.monotonic() > deadline:
                pytest.fail("no /diagnostics report")
            time.sleep(0.1)
        status = seen[-1].status[0]
        values = {kv.key: kv.value for kv in status.values}
        values["level"] = str(max(int.from_bytes(s.status[0].level, "little")
                                  if isinstance(s.status[0].level, bytes)
                                  else int(s.status[0].level) for s in seen))
        values["message"] = " | ".join(s.status[0].message for s in seen)
        return values

    def close(self) -> None:
        """Stop the executor and leave the context."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def call(probe: RosProbe, srv_type, name: str, request, timeout: float = 30.0):  # noqa: ANN001, ANN201
    """Call a service of the pose node from the probe; its response."""
    client = probe.node.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=timeout), f"no service {name}"
    future = client.call_async(request)
    deadline = time.monotonic() + timeout
    while not future.done():
        assert time.monotonic() < deadline, f"{name} did not answer"
        time.sleep(0.05)
    probe.node.destroy_client(client)
    return future.result()


def transition(probe: RosProbe, label: str) -> bool:
    """Whether the pose node took the transition ``label`` (as `ros2 lifecycle set`)."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    ids = {"configure": Transition.TRANSITION_CONFIGURE,
           "activate": Transition.TRANSITION_ACTIVATE,
           "deactivate": Transition.TRANSITION_DEACTIVATE,
           "cleanup": Transition.TRANSITION_CLEANUP,
           "shutdown": Transition.TRANSITION_INACTIVE_SHUTDOWN}
    request = ChangeState.Request()
    request.transition.id = ids[label]
    return call(probe, ChangeState, f"/{probe.namespace}/nbf_pose/change_state",
                request).success


def lifecycle_state(probe: RosProbe) -> str:
    """The pose node's lifecycle state label (as `ros2 lifecycle get`)."""
    from lifecycle_msgs.srv import GetState

    return call(probe, GetState, f"/{probe.namespace}/nbf_pose/get_state",
                GetState.Request()).current_state.label
