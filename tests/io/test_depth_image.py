"""Depth image payloads to metre maps: both encodings, 'no return' in every spelling, and the
frames that cannot serve as evidence."""

from __future__ import annotations

import numpy as np
import pytest

from nbf_ros.io.depth_image import (
    DepthError,
    check_depth,
    decode_depth,
    depth_message,
    encode_depth,
    resample_depth,
)


def test_16uc1_millimetres_become_metres_and_zero_stays_no_return() -> None:
    mm = np.array([[0, 1000, 2500], [65535, 1, 3210]], dtype="<u2")
    depth = decode_depth(2, 3, "16UC1", 6, mm.tobytes())
    np.testing.assert_allclose(depth, [[0.0, 1.0, 2.5], [65.535, 0.001, 3.21]], rtol=1e-6)
    assert depth.dtype == np.float32


def test_32fc1_nan_inf_zero_and_negative_are_no_return() -> None:
    metres = np.array([[np.nan, np.inf, -np.inf], [0.0, -1.0, 2.25]], dtype="<f4")
    depth = decode_depth(2, 3, "32FC1", 12, metres.tobytes())
    np.testing.assert_array_equal(depth, [[0, 0, 0], [0, 0, 2.25]])


def test_big_endian_and_row_padding_are_read() -> None:
    mm = np.array([[1000, 2000]], dtype=">u2")
    padded = mm.tobytes() + b"\x00\x00"  # step 6 for a 2-pixel row
    depth = decode_depth(1, 2, "16UC1", 6, padded, is_bigendian=1)
    np.testing.assert_allclose(depth, [[1.0, 2.0]])


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_encoding_round_trips_to_the_millimetre(encoding: str) -> None:
    depth = np.array([[0.0, 1.2345], [4.0, 0.5]], dtype=np.float32)
    height, width, enc, step, data = encode_depth(depth, encoding)
    back = decode_depth(height, width, enc, step, data)
    np.testing.assert_allclose(back, depth, atol=5e-4)
    assert back[0, 0] == 0.0


def test_unknown_encoding_is_refused_by_name() -> None:
    with pytest.raises(DepthError, match="unsupported depth encoding 'rgb8'"):
        decode_depth(1, 1, "rgb8", 3, b"\x00\x00\x00")


def test_data_shorter_than_step_times_height_is_refused() -> None:
    with pytest.raises(DepthError, match="expected step x height"):
        decode_depth(2, 2, "16UC1", 4, b"\x00" * 6)


def test_a_depth_map_of_another_size_than_the_colour_image_is_refused() -> None:
    with pytest.raises(DepthError, match="depth image is 4 x 2 but the colour image is 8 x 6"):
        check_depth(np.ones((2, 4), np.float32), 6, 8)


def test_a_depth_map_without_returns_is_refused() -> None:
    with pytest.raises(DepthError, match="returns on 0.0% of its pixels"):
        check_depth(np.zeros((6, 8), np.float32), 6, 8)


def test_resampling_a_half_resolution_depth_map_picks_nearest_pixels() -> None:
    K_colour = np.array([[100.0, 0, 4], [0, 100.0, 2], [0, 0, 1]])
    K_depth = np.array([[50.0, 0, 2], [0, 50.0, 1], [0, 0, 1]])
    small = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.float32)
    big = resample_depth(small, K_depth, K_colour, 4, 8)
    # Each depth pixel covers 2 x 2 colour pixels; no value is a mix of two.
    np.testing.assert_array_equal(big, np.kron(small, np.ones((2, 2), np.float32)))


def test_depth_message_carries_16uc1_millimetres() -> None:
    msg = depth_message(np.array([[1.5, 0.0]], np.float32), 10**9, "cam")
    assert (msg.encoding, msg.step, msg.height, msg.width) == ("16UC1", 4, 1, 2)
    np.testing.assert_allclose(decode_depth(1, 2, msg.encoding, msg.step, msg.data), [[1.5, 0]])
