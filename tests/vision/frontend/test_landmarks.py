"""BlazePose landmarks on a real photograph, and what they say about the body's joints."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nbf_ros.body.joints import SMPL24_NAMES
from nbf_ros.vision.frontend.body_evidence import LIMB_JOINTS, body_keypoints
from nbf_ros.vision.frontend.landmarks import (
    LANDMARK_NAMES,
    concat_landmarks,
    frame_tensor,
)
from nbf_ros.vision.frontend.roi import rois_from_boxes

DATA = Path(__file__).resolve().parents[2] / "data"
# By-eye box of the man in tests/data/basketball1_person.png; he faces the camera.
PERSON_BOX = np.array([[14.5, 21.0, 87.0, 219.0]])


def test_a_person_in_a_photograph_scores_high_and_lands_inside_the_box(landmark_model, person):
    lm = landmark_model(frame_tensor(person), rois_from_boxes(PERSON_BOX))
    assert lm.score[0] > 0.9
    limbs = [LANDMARK_NAMES.index(n) for n in LIMB_JOINTS]
    x0, y0, x1, y1 = PERSON_BOX[0]
    xy = lm.xy[0, limbs]
    assert ((xy[:, 0] > x0 - 5) & (xy[:, 0] < x1 + 5)).all()
    assert ((xy[:, 1] > y0 - 5) & (xy[:, 1] < y1 + 5)).all()


def test_a_person_facing_the_camera_has_the_left_shoulder_on_the_image_right(
        landmark_model, person):
    lm = landmark_model(frame_tensor(person), rois_from_boxes(PERSON_BOX))
    left, right = (LANDMARK_NAMES.index(n) for n in ("left_shoulder", "right_shoulder"))
    assert lm.xy[0, left, 0] > lm.xy[0, right, 0]
    # The world landmarks agree: the person's left is the camera's +x, the shoulders up (-y).
    assert lm.world[0, left, 0] > lm.world[0, right, 0]
    hip = LANDMARK_NAMES.index("left_hip")
    assert lm.world[0, left, 1] < lm.world[0, hip, 1]


def test_an_empty_region_scores_low(landmark_model, person):
    blank = np.full_like(person, 128)
    lm = landmark_model(frame_tensor(blank), rois_from_boxes(PERSON_BOX))
    assert lm.score[0] < 0.5


def test_the_next_roi_follows_the_person_it_read(landmark_model, person):
    lm = landmark_model(frame_tensor(person), rois_from_boxes(PERSON_BOX))
    again = landmark_model(frame_tensor(person), lm.next_roi)
    assert again.score[0] > 0.9
    shoulder = LANDMARK_NAMES.index("left_shoulder")
    assert np.linalg.norm(again.xy[0, shoulder] - lm.xy[0, shoulder]) < 6.0


def test_no_roi_reads_no_people(landmark_model, person):
    lm = landmark_model(frame_tensor(person), rois_from_boxes(np.zeros((0, 4))))
    assert len(lm) == 0 and lm.xy.shape == (0, 33, 2)


def test_landmarks_map_onto_the_limb_joints_of_the_body_with_their_confidence(
        landmark_model, person):
    lm = landmark_model(frame_tensor(person), rois_from_boxes(PERSON_BOX))
    two = concat_landmarks([lm, lm])
    xy, conf = body_keypoints(two, SMPL24_NAMES)
    for name in LIMB_JOINTS:
        j, k = SMPL24_NAMES.index(name), LANDMARK_NAMES.index(name)
        np.testing.assert_allclose(xy[:, j], two.xy[:, k])
        np.testing.assert_allclose(conf[:, j], two.visibility[:, k] * two.presence[:, k])
    others = [SMPL24_NAMES.index(n) for n in ("pelvis", "neck", "head", "left_foot")]
    assert (conf[:, others] == 0).all()


def test_the_mask_on_a_crops_cells_is_high_on_the_person_and_low_around(landmark_model, person):
    from nbf_ros.vision.frontend.fit_inputs import mask_on_cells

    lm = landmark_model(frame_tensor(person), rois_from_boxes(PERSON_BOX))
    crop = np.array([[-40.0, 0.0, 140.0, 220.0]])  # 180 px wide around the 72 px person
    cells = mask_on_cells(lm, crop, 22, 18).reshape(22, 18).numpy()
    x = (np.arange(18) + 0.5) / 18 * 180 - 40
    inside = (x > 35) & (x < 60)  # a band down the person's middle
    outside = (x < 0) | (x > 100)
    assert cells[5:18, inside].mean() > 0.6
    assert cells[:, outside].mean() < 0.2
