"""DepthStream: a colour frame gets its depth map paired by stamp, resampled when the depth
camera is not registered, or a reason to be served from colour alone."""

from __future__ import annotations

import numpy as np

from nbf_ros.io.convert import camera_info_message
from nbf_ros.io.depth_image import depth_message
from nbf_ros.stream.depth_stream import DepthStream

K = np.array([[100.0, 0, 4], [0, 100.0, 3], [0, 0, 1]])
S = 1_000_000_000


def test_a_registered_depth_within_the_slop_is_decoded_for_the_frame() -> None:
    stream = DepthStream(slop_s=0.02, timeout_s=1.0)
    stream.put(depth_message(np.full((6, 8), 2.5, np.float32), 10 * S + 5_000_000, "cam"))
    got = stream.for_frame(10 * S, 6, 8, K)
    assert got.reason is None and got.offset_ns == 5_000_000
    np.testing.assert_allclose(got.depth, 2.5)
    assert stream.paired == 1


def test_a_depth_camera_at_half_resolution_is_resampled_with_its_camera_info() -> None:
    stream = DepthStream(slop_s=0.02, timeout_s=1.0, registered=False)
    half = np.arange(12, dtype=np.float32).reshape(3, 4) + 1.0
    K_half = np.array([[50.0, 0, 2], [0, 50.0, 1.5], [0, 0, 1]])
    stream.put_info(camera_info_message(K_half, 4, 3, S, "cam"))
    stream.put(depth_message(half, S, "cam"))
    got = stream.for_frame(S, 6, 8, K)
    np.testing.assert_allclose(got.depth, np.kron(half, np.ones((2, 2))), atol=5e-4)


def test_without_depth_camera_info_an_unregistered_depth_is_not_used() -> None:
    stream = DepthStream(slop_s=0.02, timeout_s=1.0, registered=False)
    stream.put(depth_message(np.ones((3, 4), np.float32), S, "cam"))
    got = stream.for_frame(S, 6, 8, K)
    assert got.depth is None and got.message == "no depth/camera_info received yet"


def test_a_depth_of_the_wrong_size_is_a_bad_depth_with_the_sizes_named() -> None:
    stream = DepthStream(slop_s=0.02, timeout_s=1.0)
    stream.put(depth_message(np.ones((3, 4), np.float32), S, "cam"))
    got = stream.for_frame(S, 6, 8, K)
    assert got.reason == "bad depth"
    assert got.message.startswith("depth image is 4 x 3 but the colour image is 8 x 6")
