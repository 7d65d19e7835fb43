"""Scores against hand labels: detection matching, PCK by box size, facing."""

from __future__ import annotations

import numpy as np
import pytest

from nbf_ros.eval.image_scores import Person, facing_from_3d, match_people, pck_errors


def person(box, score=1.0, joints=None) -> Person:  # noqa: ANN001
    return Person(np.asarray(box, dtype=np.float64), joints, score=score)


def test_each_labelled_person_takes_the_best_scoring_overlapping_estimate():
    truth = [person([0, 0, 50, 100]), person([200, 0, 250, 100])]
    found = [person([2, 2, 50, 100], 0.5), person([0, 0, 48, 98], 0.9),
             person([400, 0, 450, 100], 0.8)]
    match = match_people(truth, found)
    assert match.matches == [1, None]
    assert match.found == 1
    assert match.false_positives == 2  # the duplicate and the one on nobody


def test_a_person_too_small_to_count_is_neither_missed_nor_a_false_positive():
    truth = [person([0, 0, 20, 40]), person([100, 0, 140, 100])]
    found = [person([0, 0, 20, 40])]
    match = match_people(truth, found)
    assert match.counted == [False, True]
    assert match.false_positives == 0 and match.found == 0


def test_pck_errors_are_relative_to_the_labelled_box_and_infinite_when_missed():
    joints = np.zeros((12, 3))
    joints[:, 2] = 2
    joints[3, 2] = 0  # not labelled
    truth = Person(np.array([0.0, 0.0, 50.0, 200.0]), joints)
    est = joints.copy()
    est[0, :2] = (20.0, 0.0)  # 0.1 of the box's 200 px side
    err = pck_errors(truth, Person(np.zeros(4), est))
    assert err.shape == (11,)
    assert err[0] == pytest.approx(0.1) and (err[1:] == 0).all()
    assert np.isinf(pck_errors(truth, None)).all()


NAMES = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


def test_a_body_whose_left_is_on_the_camera_right_faces_the_camera():
    # Camera frame: x right, y down. Facing the camera, the person's left is +x.
    front = np.array([[0.2, -0.5, 3.0], [-0.2, -0.5, 3.0], [0.1, 0.0, 3.0], [-0.1, 0.0, 3.0]])
    assert facing_from_3d(front, NAMES) == "front"
    back = front * np.array([-1.0, 1.0, 1.0])
    assert facing_from_3d(back, NAMES) == "back"
