"""bench/occlusion_map.py places the AdvOcc square on the fit's crop map where the crop
samples the image."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from occlusion_map import square_on_crop  # noqa: E402


def test_square_covers_the_crop_pixels_whose_centres_it_holds() -> None:
    # A 10 x 10 map over image pixels 0..100: pixel centres at 5, 15, ..., 95.
    under = square_on_crop(np.array([0.0, 0.0, 100.0, 100.0]), (50, 0), (10, 10), side=80)
    expected = np.zeros((10, 10), bool)
    expected[:8, 5:] = True  # rows with centres 5..75 < 80, columns with centres 55..95
    np.testing.assert_array_equal(under, expected)


def test_square_follows_a_crop_box_that_is_shifted_and_scaled() -> None:
    # Map pixels of 20 image pixels each, the crop starting at (100, 200).
    under = square_on_crop(np.array([100.0, 200.0, 180.0, 280.0]), (120, 200), (4, 4),
                           side=20)
    expected = np.zeros((4, 4), bool)
    expected[0, 1] = True  # the one centre (130, 210) inside x 120..140, y 200..220
    np.testing.assert_array_equal(under, expected)


def test_square_off_the_crop_covers_nothing() -> None:
    under = square_on_crop(np.array([0.0, 0.0, 100.0, 100.0]), (150, 150), (8, 8))
    assert not under.any()
