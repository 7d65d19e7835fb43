"""Fixtures of the bag I/O tests: small real images, intrinsics and people."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch

from nbf_ros.body.joints import SMPL24_NAMES
from nbf_ros.body.rotations import axis_angle_to_matrix
from nbf_ros.estimate import HumanEstimate

WIDTH, HEIGHT = 32, 24

# Float fields travel as float32 in HumanPose; 3D points and rotations as float64.
FLOAT32_TOL = 1e-6


@pytest.fixture
def camera_k() -> np.ndarray:
    """Pinhole intrinsics of a WIDTH x HEIGHT image."""
    return np.array([[40.0, 0.0, WIDTH / 2], [0.0, 41.0, HEIGHT / 2], [0.0, 0.0, 1.0]])


@pytest.fixture
def make_rgb() -> Callable[[int], np.ndarray]:
    """Random HEIGHT x WIDTH RGB images, one per seed."""

    def make(seed: int) -> np.ndarray:
        return np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)

    return make


@pytest.fixture
def smooth_rgb() -> np.ndarray:
    """A smooth colour gradient: what JPEG reproduces closely (noise it does not)."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    channels = (cols * 255 // (WIDTH - 1), rows * 255 // (HEIGHT - 1), np.full_like(rows, 128))
    return np.stack(channels, axis=-1).astype(np.uint8)


@pytest.fixture
def make_estimate() -> Callable[..., HumanEstimate]:
    """Random but valid HumanEstimates (SMPL-24 joints), one per seed."""

    def make(seed: int, track_id: int = 1) -> HumanEstimate:
        rng = np.random.default_rng(seed)
        num_joints = len(SMPL24_NAMES)
        rotations = axis_angle_to_matrix(torch.from_numpy(rng.normal(size=(num_joints, 3))))
        return HumanEstimate(
            joints=rng.normal(size=(num_joints, 3)) + np.array([0.0, 0.0, 3.0]),
            joint_visibility=rng.uniform(size=num_joints),
            joint_state=rng.choice([0, 1, 2, 255], size=num_joints).astype(np.uint8),
            keypoints_2d=rng.uniform(0.0, WIDTH, size=(num_joints, 2)),
            root_translation=rng.normal(size=3),
            root_rotation=rotations[0].numpy(),
            bone_rotations=rotations[1:].numpy(),
            shape=rng.normal(size=3),
            roi=np.array([2.0, 3.0, 20.0, 22.0]),
            track_id=track_id,
            confidence=0.75,
            joint_confidence=rng.uniform(size=num_joints),
            body_model="anny",
            shape_names=("height", "weight", "age"),
            occluded_fraction=0.25,
            fit_loss=1.5,
            iterations=7,
        )

    return make


def _assert_same(expected: HumanEstimate, actual: HumanEstimate) -> None:
    """Every message field equal, floats to float32 precision."""
    for name in ("joints", "keypoints_2d", "root_translation", "root_rotation",
                 "bone_rotations", "shape", "joint_visibility", "joint_confidence", "roi"):
        np.testing.assert_allclose(getattr(actual, name), getattr(expected, name),
                                   rtol=FLOAT32_TOL, atol=FLOAT32_TOL, err_msg=name)
    np.testing.assert_array_equal(actual.joint_state, expected.joint_state)
    for name in ("track_id", "body_model", "joint_names", "shape_names", "iterations"):
        assert getattr(actual, name) == getattr(expected, name), name
    for name in ("confidence", "occluded_fraction", "fit_loss"):
        assert getattr(actual, name) == pytest.approx(getattr(expected, name), abs=1e-6), name


@pytest.fixture
def assert_same_estimates() -> Callable[[Sequence[HumanEstimate], Sequence[HumanEstimate]], None]:
    """Assertion that two lists of estimates carry the same message content."""

    def check(expected: Sequence[HumanEstimate], actual: Sequence[HumanEstimate]) -> None:
        assert len(actual) == len(expected)
        for one, other in zip(expected, actual, strict=True):
            _assert_same(one, other)

    return check
