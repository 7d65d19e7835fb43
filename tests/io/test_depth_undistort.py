"""Depth registered to a distorted colour image (issue 31): with undistort on, the node
rectifies the colour frame, so its depth must move by the same map, by nearest pixel."""

from __future__ import annotations

import numpy as np
import pytest

from nbf_ros.io.undistort import Lens, distort_pixels, whole_field_camera

K = np.array([[500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]])
BARREL = (-0.28, 0.09, 0.0012, -0.0008, -0.012)  # a webcam's: corners move tens of pixels


def lens() -> Lens:
    """A 640 x 480 plumb_bob lens undistorted onto the whole-field camera, as the node's."""
    D = np.array(BARREL)
    return Lens(K, 640, 480, "plumb_bob", D, whole_field_camera(K, 640, 480, "plumb_bob", D))


def test_depth_values_are_copied_never_blended_across_an_edge() -> None:
    # A person 2 m away against a wall at 5 m, with a hole of no returns.
    depth = np.full((480, 640), 5.0, dtype=np.float32)
    depth[100:400, 250:420] = 2.0
    depth[200:230, 300:330] = 0.0
    out = lens().rectify_depth(depth)
    assert set(np.unique(out).tolist()) == {0.0, 2.0, 5.0}


def test_each_rectified_pixel_takes_the_raw_depth_where_the_lens_imaged_it() -> None:
    # Raw depth that says which pixel it came from: 1 m + column mm + row um.
    v, u = np.mgrid[0:480, 0:640]
    depth = (1.0 + u * 1e-3 + v * 1e-6).astype(np.float32)
    out = lens().rectify_depth(depth)
    probes = np.array([[100, 80], [320, 240], [560, 400], [40, 450]])
    K_out = lens().camera
    source = distort_pixels(probes.astype(float), K_out, "plumb_bob", BARREL)
    # distort_pixels maps through one K; the lens maps out (K_out) -> raw (K).
    normalised = (source - K_out[:2, 2]) / np.diag(K_out)[:2]
    raw = normalised * np.diag(K)[:2] + K[:2, 2]
    for (pu, pv), (su, sv) in zip(probes, raw, strict=True):
        value = float(out[pv, pu]) - 1.0
        col = round(value * 1e3 - 0.5)  # the row's micrometres never reach half a mm
        row = round((value - col * 1e-3) * 1e6)
        assert abs(col - su) <= 1.0
        assert abs(row - sv) <= 1.5


def test_the_colour_and_its_depth_keep_their_edges_together() -> None:
    raw_rgb = np.zeros((480, 640, 3), dtype=np.uint8)
    raw_rgb[:, 500:] = 255
    depth = np.full((480, 640), 4.0, dtype=np.float32)
    depth[:, 500:] = 1.5
    lens_ = lens()
    rgb, rect = lens_.rectify(raw_rgb), lens_.rectify_depth(depth)
    for row in (40, 240, 440):
        colour_edge = int(np.argmax(rgb[row, :, 0] > 127))
        depth_edge = int(np.argmax(rect[row] == 1.5))
        assert colour_edge > 0 and abs(colour_edge - depth_edge) <= 1


def test_pixels_that_see_past_the_raw_frame_have_no_return() -> None:
    # The whole-field camera keeps every raw pixel; its corners see past the sensor.
    out = lens().rectify_depth(np.full((480, 640), 3.0, dtype=np.float32))
    assert out[0, 0] == 0.0 and out[240, 320] == 3.0


def test_a_depth_map_of_another_size_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="depth is 320x240, the lens's image 640x480"):
        lens().rectify_depth(np.ones((240, 320), dtype=np.float32))
