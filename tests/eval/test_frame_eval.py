"""Evaluation of a run against ground truth: matching, errors, visibility, ids, jitter."""

from __future__ import annotations

import numpy as np
import pytest

from nbf_ros.estimate import HumanEstimate, JointState
from nbf_ros.eval.frame_eval import FrameRecord, evaluate, match_people


def person(u0: float, height: float = 100.0, track_id: int = 0,
           joints: np.ndarray | None = None) -> HumanEstimate:
    uv = np.stack([np.full(24, u0), np.linspace(0, height, 24)], 1)
    return HumanEstimate(
        joints=np.zeros((24, 3)) if joints is None else joints, joint_visibility=np.ones(24),
        track_id=track_id,
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


def body(offset: float = 0.0) -> np.ndarray:
    """24 joints on a line, the last moved by ``offset`` metres along x."""
    joints = np.stack([np.zeros(24), np.linspace(0, 1.6, 24), np.full(24, 3.0)], 1)
    joints[-1, 0] += offset
    return joints


class TestEvaluate:
    def test_errors_are_root_aligned_millimetres_split_by_true_occlusion(self) -> None:
        truth = person(100, track_id=1, joints=body())
        truth.joint_state[-1] = JointState.OCCLUDED
        est = person(101, track_id=7, joints=body(0.24) + [0.5, 0, 0])  # global shift ignored
        out = evaluate([FrameRecord(1, [est], [truth])])
        assert out["mpjpe_mm"] == pytest.approx(240 / 24)
        assert out["error_occluded_mm"] == pytest.approx(240)
        assert out["error_visible_mm"] == pytest.approx(0)
        assert out["pck3d_150mm"] == pytest.approx(23 / 24)
        assert out["per_joint_mm"][truth.joint_names[-1]]["occluded"] == pytest.approx(240)
        assert out["recall"] == 1.0 and out["precision"] == 1.0

    def test_visibility_scores_are_judged_against_true_states(self) -> None:
        truth = person(100, track_id=1, joints=body())
        truth.joint_state[:6] = JointState.OCCLUDED
        truth.joint_state[6:8] = JointState.OUTSIDE_IMAGE  # no visibility truth: excluded
        est = person(100, track_id=1, joints=body())
        est.joint_visibility[:6] = 0.2  # the six occluded joints score lowest: AUC 1
        est.joint_state[:4] = JointState.OCCLUDED  # two occluded joints called visible
        out = evaluate([FrameRecord(1, [est], [truth])])
        assert out["visibility_auc"] == 1.0
        assert out["visibility_accuracy"] == pytest.approx(20 / 22)

    def test_id_switches_and_missed_people_over_a_sequence(self) -> None:
        frames = []
        for t, est_id in enumerate([5, 5, None, 5, 9]):
            truth = [person(100, track_id=1, joints=body())]
            est = [] if est_id is None else [person(100, track_id=est_id, joints=body())]
            frames.append(FrameRecord(t, est, truth))
        frames.append(FrameRecord(9, [person(300)], None))  # no truth: counted, not judged
        out = evaluate(frames)
        assert out["id_switches"] == 1
        assert (out["true_people"], out["matched_people"], out["estimated_people"]) == (5, 4, 5)
        assert out["frames"] == 6 and out["frames_with_truth"] == 5

    def test_acceleration_error_uses_runs_of_consecutive_matched_frames(self) -> None:
        frames = []
        for t in range(4):
            est = body()
            if t == 1:
                est[-1, 0] += 0.01  # a 10 mm jitter of one joint in one frame
            frames.append(FrameRecord(t, [person(100, track_id=1, joints=est)],
                                      [person(100, track_id=1, joints=body())]))
        out = evaluate(frames)
        # Second differences of that joint: -20 mm at t=1, +10 mm at t=2; 2 frames x 24 joints.
        assert out["acceleration_error_mm"] == pytest.approx(30 / 48)

    def test_empty_run_gives_no_figures(self) -> None:
        out = evaluate([])
        assert out["mpjpe_mm"] is None and out["recall"] is None and out["id_switches"] == 0
