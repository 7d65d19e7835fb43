"""Matching estimates to true people by their projected joints."""

from __future__ import annotations

import numpy as np

from nbf_ros.estimate import HumanEstimate
from nbf_ros.replay.summary import match_people


def person(u0: float, height: float = 100.0) -> HumanEstimate:
    uv = np.stack([np.full(24, u0), np.linspace(0, height, 24)], 1)
    return HumanEstimate(
        joints=np.zeros((24, 3)), joint_visibility=np.ones(24),
        joint_state=np.zeros(24, np.uint8), keypoints_2d=uv, root_translation=np.zeros(3),
        root_rotation=np.eye(3), bone_rotations=np.tile(np.eye(3), (23, 1, 1)),
        shape=np.zeros(2), roi=np.array([u0 - 20, 0, u0 + 20, height]))


def test_people_pair_with_the_nearest_skeleton_one_to_one() -> None:
    truth = [person(100), person(130)]
    estimates = [person(128), person(104)]
    assert sorted(match_people(estimates, truth)) == [(0, 1), (1, 0)]


def test_estimates_far_from_everyone_stay_unmatched() -> None:
    # 60 px away from a 100 px tall person: more than half its height.
    assert match_people([person(160)], [person(100)]) == []
    assert match_people([], [person(100)]) == []


def test_non_finite_estimates_never_match() -> None:
    bad = person(100)
    bad.keypoints_2d[:] = np.nan
    assert match_people([bad], [person(100)]) == []
