"""Compressed images and camera_info from the network (issue 32): only PNG and JPEG are decoded,
as the format field names them; undecodable frames are logged once per throttle period
whatever Pillow says about each; an unknown distortion model is warned about once. Every
case ends with a good frame answered.

The node runs in its own process (real DDS on loopback) with image_transport=compressed.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from node_harness import (
    FAST,
    NodeProcess,
    RosProbe,
    camera_info,
    next_stamp,
    ros_environment,
    ros_time,
)
from PIL import Image

from nbf_ros.io.image_codec import encode_compressed


def compressed(fmt: str, data: bytes, stamp_ns: int):  # noqa: ANN201 - CompressedImage
    from sensor_msgs.msg import CompressedImage

    msg = CompressedImage(format=fmt, data=data)
    msg.header.stamp = ros_time(stamp_ns)
    msg.header.frame_id = "camera_optical_frame"
    return msg


def send_good_jpeg(probe: RosProbe, scene, info=None) -> int:  # noqa: ANN001
    """camera_info (``info`` or the scene's pinhole one) and the scene as JPEG; the stamp."""
    stamp = next_stamp()
    msg = camera_info(scene.K, stamp) if info is None else info
    msg.header.stamp = ros_time(stamp)
    probe.info_pub.publish(msg)
    time.sleep(0.05)
    probe.compressed_pub.publish(compressed("rgb8; jpeg compressed bgr8",
                                            encode_compressed(scene.image, "jpeg"), stamp))
    return stamp


@pytest.fixture(scope="module")
def served(rclpy_module, tmp_path_factory: pytest.TempPathFactory, scene  # noqa: ANN001
           ) -> Iterator[tuple[RosProbe, NodeProcess]]:
    """A running node on image/compressed that has served one good frame."""
    workdir = tmp_path_factory.mktemp("network_images")
    node = NodeProcess(dict(FAST, image_transport="compressed"), workdir,
                       ros_environment(workdir), "netimg")
    probe = RosProbe(rclpy_module, "netimg")
    try:
        probe.wait_connected()
        probe.wait_for_poses(send_good_jpeg(probe, scene))
        yield probe, node
    finally:
        probe.close()
        assert node.stop() == 0, node.log_text()


@pytest.mark.timeout(240)
def test_gif_eps_and_tiff_labelled_png_or_jpeg_are_refused(served, scene) -> None:  # noqa: ANN001
    probe, node = served
    mark, start = probe.mark(), len(node.log_text())
    rejected_before = int(probe.diagnostics_since(mark, settle=0.0).get("rejected: bad image", 0))
    stamps = []
    for kind in ("GIF", "EPS", "TIFF"):
        out = io.BytesIO()
        picture = Image.fromarray(np.asarray(scene.image[:64, :64]))
        (picture.convert("P") if kind == "GIF" else picture).save(out, format=kind)
        for label in ("png", "rgb8; jpeg compressed bgr8"):
            stamps.append(next_stamp())
            probe.compressed_pub.publish(compressed(label, out.getvalue(), stamps[-1]))
            time.sleep(0.3)  # one at a time: the worker is idle, none is dropped as busy
    diagnostics = probe.diagnostics_since(probe.mark(), settle=1.0)
    assert int(diagnostics["rejected: bad image"]) - rejected_before == 6, diagnostics
    probe.wait_for_poses(send_good_jpeg(probe, scene))
    log = node.log_text()[start:]
    assert "only PNG and JPEG are decoded" in log and "Traceback" not in log
    assert not any(probe.poses_with_stamp(stamp) for stamp in stamps)


@pytest.mark.timeout(240)
def test_twenty_garbage_jpegs_in_two_seconds_log_one_line(served, scene) -> None:  # noqa: ANN001
    # Issue 32: Pillow's message for each held an object address, and the throttle keyed on
    # the message: 13 lines for 20 frames.
    probe, node = served
    # Random bytes labelled jpeg fail the JPEG signature check, the reason the previous
    # test's GIF labelled jpeg logged: wait out the throttle (log_throttle, 5 s) so that
    # line cannot hide this test's one.
    time.sleep(5.5)
    start = len(node.log_text())
    rng = np.random.default_rng(7)
    for _ in range(20):
        noise = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
        probe.compressed_pub.publish(compressed("jpeg", noise, next_stamp()))
        time.sleep(0.1)
    probe.wait_for_poses(send_good_jpeg(probe, scene))
    log = node.log_text()[start:]
    assert log.count("frame dropped (bad image)") == 1, log


@pytest.mark.timeout(240)
def test_an_unknown_distortion_model_is_warned_about_once(served, scene) -> None:  # noqa: ANN001
    probe, node = served
    start = len(node.log_text())
    for _ in range(3):
        info = camera_info(scene.K, 0)
        info.distortion_model, info.d = "kannala_brandt", [0.1, 0.02, 0.0, 0.0]
        probe.wait_for_poses(send_good_jpeg(probe, scene, info))  # taken as a pinhole
    assert node.log_text()[start:].count("'kannala_brandt' is not supported") == 1


@pytest.mark.timeout(240)
def test_a_distorting_lens_is_undone_and_the_poses_land_on_the_raw_image(
        served, scene) -> None:  # noqa: ANN001
    from nbf_ros.io.undistort import distort_pixels
    from nbf_ros.synth.lens import DistortingCamera

    probe, node = served
    plumb_bob = (-0.3, 0.09, 0.0, 0.0, -0.01)
    height, width = scene.image.shape[:2]
    camera = DistortingCamera(scene.K, width, height, "plumb_bob", plumb_bob)
    raw = replace(scene, image=camera.image(scene.image))
    info = camera_info(scene.K, 0)
    info.d = list(plumb_bob)
    mark = probe.mark()
    poses = probe.wait_for_poses(send_good_jpeg(probe, raw, info))
    assert "plumb_bob distortion undone" in probe.diagnostics_since(mark)["camera_info"]
    truth = distort_pixels(scene.people[0].keypoints, scene.K, "plumb_bob", plumb_bob)
    fitted = np.array([[p.x, p.y] for p in poses.humans[0].keypoints_2d])
    box = scene.people[0].box
    assert np.median(np.linalg.norm(fitted - truth, axis=1)) < 0.1 * (box[3] - box[1])
