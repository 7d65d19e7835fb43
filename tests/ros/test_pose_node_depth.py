"""The pose node with use_depth (issue 31): a colour frame is paired with its depth by stamp
and the person lands at the measured distance, through a distorting lens too (that colour
and depth are undone by one map is tests/io/test_depth_undistort.py's); bad depth (wrong
size, unknown encoding, all zeros, NaN and inf, a stream that lags or stops) gets one log
line and a WARN in /diagnostics, the frame is served from colour alone, and the next good
frame is answered with its depth.

One node process serves every case (its start-up is most of the cost); each case uses
stamps a second apart from the last, so no earlier depth message can pair with it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import numpy as np
import pytest
from node_harness import (
    RELIABLE,
    NodeProcess,
    RosProbe,
    camera_info,
    image,
    ros_environment,
    ros_time,
)

MS = 1_000_000
PARAMS = dict(RELIABLE, use_depth=True, depth_slop=0.05, depth_timeout=0.5, log_throttle=0.0,
              landmarks=False, detector="network")
_stamps = itertools.count(2_000_000_000 * 10**9, 10**9)  # one second apart


def depth_msg(metres: np.ndarray, stamp_ns: int, encoding: str = "16UC1",
              data: bytes | None = None):  # noqa: ANN201
    """A sensor_msgs/Image of a depth map [H, W] m in the given encoding."""
    from sensor_msgs.msg import Image

    from nbf_ros.io.depth_image import encode_depth

    height, width = metres.shape
    if data is None:
        height, width, encoding, step, data = encode_depth(metres, encoding)
    else:
        step = len(data) // height
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0, step=step,
                data=data)
    msg.header.stamp = ros_time(stamp_ns)
    msg.header.frame_id = "camera_optical_frame"
    return msg


def true_depth(scene) -> np.ndarray:  # noqa: ANN001
    """The scene's depth with a wall 4.5 m away behind the person."""
    return np.where(np.isfinite(scene.depth), scene.depth, 4.5).astype(np.float32)


class Feeder:
    """Publishes colour, camera_info and depth to the node under test."""

    def __init__(self, probe: RosProbe, scene) -> None:  # noqa: ANN001
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.probe, self.scene = probe, scene
        self.depth_pub = probe.node.create_publisher(
            Image, "depth", QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))

    def frame(self, depth=None, offset_ms: float = 3.0, rgb: np.ndarray | None = None,  # noqa: ANN001
              distortion: tuple[float, ...] | None = None) -> int:
        """A colour frame (the scene's, or ``rgb`` through a plumb_bob lens of coefficients
        ``distortion``), its depth message first (stamped offset_ms later; None: no depth);
        the colour stamp."""
        stamp = next(_stamps)
        info = camera_info(self.scene.K, stamp)
        if distortion is not None:
            info.d = list(distortion)
        self.probe.info_pub.publish(info)
        if depth is not None:
            self.depth_pub.publish(depth if not callable(depth)
                                   else depth(stamp + int(offset_ms * MS)))
        time.sleep(0.1)
        self.probe.image_pub.publish(image(self.scene.image if rgb is None else rgb, stamp))
        return stamp

    def good(self) -> int:
        """A frame with good registered depth."""
        return self.frame(lambda stamp: depth_msg(true_depth(self.scene), stamp))


@pytest.fixture(scope="module")
def fed(rclpy_module, tmp_path_factory: pytest.TempPathFactory, scene  # noqa: ANN001
        ) -> Iterator[tuple[Feeder, NodeProcess]]:
    """A node with use_depth that has served one frame with depth, and its feeder."""
    workdir = tmp_path_factory.mktemp("node_depth")
    node = NodeProcess(PARAMS, workdir, ros_environment(workdir), "depth")
    probe = RosProbe(rclpy_module, "depth", reliable_images=True)
    try:
        probe.wait_connected()
        feeder = Feeder(probe, scene)
        deadline = time.monotonic() + 30
        while probe.node.count_subscribers("depth") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        probe.wait_for_poses(feeder.good())
        yield feeder, node
    finally:
        probe.close()
        assert node.stop() == 0, node.log_text()


def frames_with_depth(probe: RosProbe, mark: int) -> int:
    return int(probe.diagnostics_since(mark)["frames with depth"])


@pytest.mark.timeout(300)
class TestDepthInput:
    def test_the_person_is_placed_at_the_measured_distance(self, fed, scene) -> None:  # noqa: ANN001
        feeder, _ = fed
        mark = feeder.probe.mark()
        poses = feeder.probe.wait_for_poses(feeder.good())
        assert poses.humans
        root = max(poses.humans, key=lambda h: h.confidence).root_pose.position
        assert abs(root.z - float(scene.people[0].translation[2])) < 0.2
        assert frames_with_depth(feeder.probe, mark) >= 2

    def test_a_frame_through_a_distorting_lens_is_served_with_its_depth(
            self, fed, scene) -> None:  # noqa: ANN001
        from nbf_ros.synth.lens import DistortingCamera

        feeder, _ = fed
        plumb_bob = (-0.3, 0.09, 0.0, 0.0, -0.01)  # a webcam's barrel
        height, width = scene.image.shape[:2]
        lens = DistortingCamera(scene.K, width, height, "plumb_bob", plumb_bob)
        raw_depth = lens.depth(true_depth(scene))
        mark = feeder.probe.mark()
        stamp = feeder.frame(lambda s: depth_msg(raw_depth, s), rgb=lens.image(scene.image),
                             distortion=plumb_bob)
        poses = feeder.probe.wait_for_poses(stamp)
        diagnostics = feeder.probe.diagnostics_since(mark)
        assert "plumb_bob distortion undone" in diagnostics["camera_info"]
        assert int(diagnostics["frames with depth"]) >= 1, diagnostics
        root = max(poses.humans, key=lambda h: h.confidence).root_pose.position
        assert abs(root.z - float(scene.people[0].translation[2])) < 0.2

    @pytest.mark.parametrize("case", [
        "wrong size", "unknown encoding", "all zeros", "nan and inf", "lags", "stopped"])
    def test_bad_depth_is_reported_and_the_frame_served_from_colour(
            self, fed, scene, case: str) -> None:  # noqa: ANN001
        feeder, node = fed
        probe = feeder.probe
        depth = true_depth(scene)
        bad, offset, says = {
            "wrong size": (lambda s: depth_msg(depth[::2, ::2], s), 3.0,
                           "depth image is 160 x 120 but the colour image is 320 x 240"),
            "unknown encoding": (lambda s: depth_msg(depth, s, "rgb8",
                                                     scene.image.tobytes()), 3.0,
                                 "unsupported depth encoding 'rgb8'"),
            "all zeros": (lambda s: depth_msg(np.zeros_like(depth), s), 3.0,
                          "returns on 0.0% of its pixels"),
            "nan and inf": (lambda s: depth_msg(depth, s, "32FC1", np.where(
                np.arange(depth.size).reshape(depth.shape) % 2 == 0, np.nan, np.inf)
                .astype("<f4").tobytes()), 3.0, "returns on 0.0% of its pixels"),
            "lags": (lambda s: depth_msg(depth, s), -300.0,
                     "depth lags the colour image by 300 ms, more than the slop of 50 ms"),
            "stopped": (None, 0.0, "depth stream stopped: nothing for"),
        }[case]
        if case == "stopped":
            time.sleep(1.0)  # twice depth_timeout without a depth message
        mark, start = probe.mark(), len(node.log_text())
        stamp = feeder.frame(bad, offset_ms=offset)
        served = probe.wait_for_poses(stamp)
        assert served.header.stamp == ros_time(stamp)  # answered from colour alone
        diagnostics = probe.diagnostics_since(mark)
        assert int(diagnostics["level"]) >= 1 and says in diagnostics["message"], diagnostics
        log = node.log_text()[start:]
        assert log.count(says) == 1 and "served from colour alone" in log, log
        # The next good frame is answered, with its depth.
        mark = probe.mark()
        probe.wait_for_poses(feeder.good())
        before = frames_with_depth(probe, mark)
        mark = probe.mark()
        probe.wait_for_poses(feeder.good())
        assert frames_with_depth(probe, mark) > before
