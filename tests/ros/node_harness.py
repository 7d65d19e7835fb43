"""The pose node in its own process, and an in-process rclpy probe that feeds and watches it
(shared by the node tests of tests/ros/)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
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


def domain_id() -> int:
    """The ROS domain of this test run (see ros_environment)."""
    return 1 + os.getpid() % 101


class NodeProcess:
    """The pose node (python -m nbf_ros.ros.pose_node) in its own process, logging to a file."""

    def __init__(self, params: dict, workdir: Path, env: dict[str, str],
                 namespace: str) -> None:
        self.params_file = write_params(workdir / f"{namespace}_params.yaml", params)
        self.log = workdir / f"{namespace}.log"
        command = [sys.executable, "-m", "nbf_ros.ros.pose_node", "--ros-args",
                   "--params-file", str(self.params_file), "-r", f"__ns:=/{namespace}"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)

    def log_text(self) -> str:
        """Everything the node printed so far."""
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float) -> None:
        """Block until the log contains ``text``; fail with the log on timeout or exit."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"node never logged {text!r} (exit {self.process.poll()}):\n"
                            f"{self.log_text()}")
            time.sleep(0.1)

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

    def __init__(self, rclpy: ModuleType, namespace: str, reliable_images: bool = False) -> None:
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
        self.image_pub = self.node.create_publisher(Image, "image", image_qos)
        self.compressed_pub = self.node.create_publisher(CompressedImage, "image/compressed",
                                                         qos_profile_sensor_data)
        self.info_pub = self.node.create_publisher(CameraInfo, "camera_info", image_qos)
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
