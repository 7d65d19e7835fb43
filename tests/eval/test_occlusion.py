"""The occlusion protocol: squares, grids, errors on common joints, worst-position search."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nbf_ros.eval.occlusion import (
    COMMON_JOINTS,
    common_joints,
    covered,
    grid_corners,
    mid_hip_aligned,
    pose_errors,
    textured_square,
    with_square,
    worst_position,
)


def skeleton() -> np.ndarray:
    """12 common joints (metres): a rough standing body."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(12, 3)) * 0.3 + [0, 0, 3]


class TestSquares:
    def test_textured_square_is_deterministic_and_not_flat_grey(self) -> None:
        a, b = textured_square(3, 40), textured_square(3, 40)
        assert a.shape == (40, 40, 3) and a.dtype == np.uint8
        assert np.array_equal(a, b) and not np.array_equal(a, textured_square(4, 40))

    def test_pasting_clips_at_the_border_and_leaves_the_input(self) -> None:
        image = np.zeros((50, 60, 3), np.uint8)
        out = with_square(image, np.full((20, 20, 3), 255, np.uint8), (50, -5))
        assert out[:15, 50:].min() == 255 and out[15:, :].max() == 0 and out[:, :50].max() == 0
        assert image.max() == 0

    def test_grid_centres_walk_the_box_at_the_stride(self) -> None:
        corners = grid_corners(np.array([10, 20, 50, 40]), side=10, stride=10, width=100,
                               height=100)
        centres = {(x + 5, y + 5) for x, y in corners}
        assert centres == {(x, y) for x in (10, 20, 30, 40, 50) for y in (20, 30, 40)}

    def test_covered_keypoints_are_those_inside_the_square(self) -> None:
        kp = np.array([[5.0, 5], [15, 5], [9.9, 9.9]])
        assert covered(kp, (0, 0), 10).tolist() == [True, False, True]


class TestErrors:
    def test_common_joints_pick_shoulders_to_ankles_from_smpl24(self) -> None:
        from nbf_ros.body.joints import SMPL24_NAMES

        smpl = np.arange(24 * 3, dtype=float).reshape(24, 3)
        picked = common_joints(smpl)
        assert picked.shape == (12, 3)
        assert picked[0, 0] == smpl[SMPL24_NAMES.index(COMMON_JOINTS[0]), 0]

    def test_mid_hip_alignment_and_procrustes(self) -> None:
        gt = skeleton()
        assert pose_errors(gt + [1, 2, 3], gt) == pytest.approx((0.0, 0.0), abs=1e-9)
        scaled = gt * 1.5  # a scaled copy: PA removes it, MPJPE does not
        mpjpe, pa = pose_errors(scaled, gt)
        assert mpjpe > 10 and pa == pytest.approx(0.0, abs=1e-6)

    def test_mid_hip_alignment_puts_the_hips_midpoint_at_the_origin_for_a_batch(self) -> None:
        hips = [COMMON_JOINTS.index("left_hip"), COMMON_JOINTS.index("right_hip")]
        batch = np.stack([skeleton(), skeleton() * 2 + [1, 0, 0]])
        aligned = mid_hip_aligned(batch)
        assert aligned[:, hips].mean(1) == pytest.approx(np.zeros((2, 3)), abs=1e-12)
        assert aligned[1] - aligned[1, 0] == pytest.approx(batch[1] - batch[1, 0])

    def test_error_on_selected_joints_and_non_finite_predictions(self) -> None:
        gt = skeleton()
        pred = gt.copy()
        pred[0] += [0.12, 0, 0]  # left shoulder 120 mm off (hips untouched)
        only = np.zeros(12, bool)
        only[0] = True
        assert pose_errors(pred, gt, only)[0] == pytest.approx(120)
        assert pose_errors(pred, gt)[0] == pytest.approx(10)
        assert all(math.isnan(v) for v in pose_errors(np.full((12, 3), np.nan), gt))


def test_worst_position_finds_the_square_that_breaks_the_method() -> None:
    truth = skeleton()
    keypoints = np.tile([[80.0, 80.0]], (12, 1))  # every joint at the image centre

    def fragile(images, K, box):  # noqa: ANN001, ANN202 - a method that fails in one spot
        out = []
        for image in images:
            pred = truth.copy()
            if image[10:20, 150:160].max() > 0:  # square over the top right corner
                pred[0] += [0.5, 0, 0]
            out.append(pred)
        return np.stack(out)

    image = np.zeros((200, 200, 3), np.uint8)
    attack = worst_position(fragile, image, np.eye(3), np.array([0, 0, 199, 199]), truth,
                            keypoints, np.full((20, 20, 3), 200, np.uint8), stride=20, batch=7)
    x0, y0 = attack.corner
    assert x0 <= 150 < x0 + 20 and y0 <= 10 < y0 + 20
    assert attack.mpjpe == pytest.approx(500 / 12) and not attack.missed
    assert attack.positions == 100


def test_a_miss_is_the_worst_case() -> None:
    truth = skeleton()

    def shy(images, K, box):  # noqa: ANN001, ANN202 - finds nobody once anything covers it
        return np.stack([truth if image.max() == 0 else np.full((12, 3), np.nan)
                         for image in images])

    attack = worst_position(shy, np.zeros((50, 50, 3), np.uint8), np.eye(3),
                            np.array([10, 10, 40, 40]), truth, np.zeros((12, 2)),
                            np.full((10, 10, 3), 9, np.uint8), stride=10)
    assert attack.missed and math.isnan(attack.mpjpe)
