"""Pose metrics against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nbf_ros.eval.pose_metrics import (
    acceleration_error,
    id_switches,
    joint_errors,
    pck,
    roc_auc,
    visibility_accuracy,
)


class TestJointErrors:
    def test_root_alignment_removes_a_global_offset(self) -> None:
        gt = np.array([[0.0, 0, 0], [0, 1, 0], [1, 0, 0]])
        pred = gt + [5.0, 5, 5]
        pred[2] += [0, 0, 0.3]  # one joint off by 0.3 after alignment
        assert joint_errors(pred, gt) == pytest.approx([0, 0, 0.3])
        assert joint_errors(pred, gt, root=None)[0] == pytest.approx(math.sqrt(75))

    def test_shape_mismatch_is_refused(self) -> None:
        with pytest.raises(ValueError, match="differ in shape"):
            joint_errors(np.zeros((3, 3)), np.zeros((4, 3)))


def test_pck_counts_errors_below_the_threshold_within_the_mask() -> None:
    errors = np.array([0.1, 0.2, 0.3, 0.4])
    assert pck(errors, 0.25) == 0.5
    assert pck(errors, 0.25, mask=np.array([True, False, True, True])) == pytest.approx(1 / 3)
    assert math.isnan(pck(errors, 0.25, mask=np.zeros(4, bool)))


class TestRocAuc:
    def test_perfect_and_reversed_rankings(self) -> None:
        labels = np.array([0, 0, 1, 1])
        assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
        assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0

    def test_hand_computed_case_with_a_tie(self) -> None:
        # Pairs (pos, neg): (0.5 vs 0.5) tie = 0.5, (0.5 vs 0.2) = 1, (0.9 vs both) = 2.
        scores = np.array([0.5, 0.2, 0.5, 0.9])
        labels = np.array([0, 0, 1, 1])
        assert roc_auc(scores, labels) == pytest.approx(3.5 / 4)

    def test_one_class_only_is_undefined(self) -> None:
        assert math.isnan(roc_auc(np.array([0.2, 0.3]), np.array([1, 1])))


def test_visibility_accuracy_compares_booleans() -> None:
    assert visibility_accuracy(np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0])) == 0.5


def test_acceleration_error_of_constant_velocity_offsets_is_zero() -> None:
    t = np.arange(5, dtype=float)[:, None, None]
    gt = np.concatenate([t * [1.0, 0, 0]] * 2, axis=1)  # [5, 2, 3], constant velocity
    assert acceleration_error(gt + t * [0, 0.5, 0], gt) == pytest.approx(0.0)
    jitter = gt.copy()
    jitter[2, 0, 0] += 0.1  # one spike: second differences -0.2 at t=2, +0.1 at t=1 and 3
    assert acceleration_error(jitter, gt) == pytest.approx((0.1 + 0.2 + 0.1) / 6)
    assert math.isnan(acceleration_error(gt[:2], gt[:2]))


def test_id_switches_ignore_frames_without_a_match() -> None:
    assert id_switches([3, 3, None, 3, 5, 5, None, 3]) == 2
    assert id_switches([]) == 0
