"""Estimates drawn over their image: joints in their state's colour, occlusion tinted."""

from __future__ import annotations

import numpy as np
import pytest

from nbf_ros.estimate import HumanEstimate, JointState
from nbf_ros.overlay import OCCLUSION_RGB, STATE_RGB, draw_estimates


def person(states: np.ndarray, occlusion: np.ndarray | None = None) -> HumanEstimate:
    """A flat 24-joint person spread over a 200 x 100 image."""
    uv = np.stack([np.linspace(20, 180, 24), np.full(24, 50.0)], 1)
    est = HumanEstimate(
        joints=np.zeros((24, 3)), joint_visibility=np.ones(24), joint_state=states,
        keypoints_2d=uv, root_translation=np.zeros(3), root_rotation=np.eye(3),
        bone_rotations=np.tile(np.eye(3), (23, 1, 1)), shape=np.zeros(2),
        roi=np.array([10.0, 10.0, 190.0, 90.0]), track_id=3)
    if occlusion is not None:
        est.extra.update(occlusion=occlusion, crop_box=np.array([0.0, 0.0, 100.0, 100.0]))
    return est


def test_each_joint_is_drawn_in_its_state_colour() -> None:
    states = np.full(24, JointState.VISIBLE, dtype=np.uint8)
    states[5] = JointState.OCCLUDED
    out = draw_estimates(np.zeros((100, 200, 3), np.uint8), [person(states)])
    u = int(round(np.linspace(20, 180, 24)[5]))
    assert tuple(out[50, u]) == STATE_RGB[JointState.OCCLUDED]
    assert tuple(out[50, 20]) == STATE_RGB[JointState.VISIBLE]


def test_occluded_pixels_are_tinted_and_the_input_is_untouched() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    occ = np.zeros((8, 8))
    occ[:, :4] = 1.0  # left half of the crop box (x < 50) occluded
    out = draw_estimates(image, [person(np.zeros(24, np.uint8), occ)], occlusion_alpha=1.0)
    assert tuple(out[95, 10]) == OCCLUSION_RGB
    assert tuple(out[95, 80]) == (0, 0, 0)
    assert image.max() == 0


def test_non_rgb_input_is_refused() -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        draw_estimates(np.zeros((10, 10), np.uint8), [])
