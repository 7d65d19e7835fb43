"""The front end: people found by a detector, read by the landmark model, followed by their
own landmarks, and dropped as soon as the landmarks stop seeing them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nbf_ros.vision.frontend.build import nanodet_detector
from nbf_ros.vision.frontend.front_end import FrontEnd, FrontEndConfig
from nbf_ros.vision.frontend.landmarks import frame_tensor
from nbf_ros.vision.frontend.roi import rois_from_boxes

DATA = Path(__file__).resolve().parents[2] / "data"
PERSON_BOX = np.array([[14.5, 21.0, 87.0, 219.0]])  # by eye, tests/data/basketball1_person.png


class CountingDetector:
    """A detector that reports the labelled box and counts the frames it ran on."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return PERSON_BOX.copy(), np.ones(1)


def test_the_real_detector_and_landmarks_find_the_person_in_a_photograph(landmark_model, person):
    front = FrontEnd(nanodet_detector("cpu"), landmark_model)
    people = front.find(person, frame_tensor(person), follow=False)
    assert len(people.scores) == 1 and people.scores[0] > 0.9
    x0, y0, x1, y1 = people.boxes[0]
    bx0, by0, bx1, by1 = PERSON_BOX[0]
    inter = max(0, min(x1, bx1) - max(x0, bx0)) * max(0, min(y1, by1) - max(y0, by0))
    union = (x1 - x0) * (y1 - y0) + (bx1 - bx0) * (by1 - by0) - inter
    assert inter / union > 0.6


def test_a_followed_person_needs_the_detector_only_every_detect_every_frames(
        landmark_model, person):
    detector = CountingDetector()
    front = FrontEnd(detector, landmark_model, FrontEndConfig(detect_every=3))
    image = frame_tensor(person)
    counts = [len(front.find(person, image).scores) for _ in range(6)]
    assert counts == [1] * 6  # the detection of a followed person is not a second person
    assert detector.calls == 2  # frames 1 and 4


def test_a_person_who_leaves_is_dropped_in_the_first_frame_without_them(landmark_model, person):
    front = FrontEnd(CountingDetector(), landmark_model, FrontEndConfig(detect_every=100))
    assert len(front.find(person, frame_tensor(person)).scores) == 1
    empty = np.full_like(person, 128)
    # The followed ROI now holds no person and the detector does not run: nobody is left.
    assert len(front.find(empty, frame_tensor(empty)).scores) == 0


def test_given_boxes_are_read_one_each_whatever_they_score(landmark_model, person):
    front = FrontEnd(CountingDetector(), landmark_model)
    boxes = np.concatenate((PERSON_BOX, [[100.0, 0.0, 140.0, 40.0]]))
    people = front.find(person, frame_tensor(person), boxes=boxes)
    np.testing.assert_allclose(people.boxes, boxes)
    assert people.scores[0] > 0.9 and people.scores[1] < 0.5


def test_a_bad_detect_every_is_refused():
    with pytest.raises(ValueError, match="detect_every"):
        FrontEndConfig(detect_every=0)


def test_a_person_half_out_of_the_image_is_reported_with_about_half_the_confidence(
        landmark_model, person):
    front = FrontEnd(CountingDetector(), landmark_model)
    whole = front.find(person, frame_tensor(person), boxes=PERSON_BOX).scores[0]
    top = np.ascontiguousarray(person[:115])  # cut at the hips: the legs leave the image
    half = front.find(top, frame_tensor(top), boxes=PERSON_BOX).scores[0]
    assert whole > 0.9
    assert 0.2 < half < 0.75


def test_the_named_detector_finds_people_without_the_landmark_stage(person):
    from nbf_ros.fitting.tracking import box_iou
    from nbf_ros.pipeline import PipelineConfig, PosePipeline

    pipe = PosePipeline(PipelineConfig(detector="nanodet", landmarks=False, device="cpu",
                                       engine="torch"))
    K = np.array([[150.0, 0.0, 75.0], [0.0, 150.0, 110.0], [0.0, 0.0, 1.0]])
    frame = pipe.prepare(person, K)
    assert frame.landmarks is None and len(frame.boxes) == 1
    assert box_iou(frame.boxes, PERSON_BOX)[0, 0] > 0.5


def test_a_person_whose_legs_are_hidden_is_read_from_a_box_around_the_rest(
        landmark_model, person):
    hidden = person.copy()
    hidden[115:] = 128  # a grey table in front of the hips and legs
    top = np.array([[14.5, 21.0, 87.0, 115.0]])  # what a detector sees of them

    def detector(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return top.copy(), np.ones(1)

    whole_only = landmark_model(frame_tensor(hidden), rois_from_boxes(top)).score[0]
    people = FrontEnd(detector, landmark_model).find(hidden, frame_tensor(hidden),
                                                     follow=False)
    assert len(people.scores) == 1
    assert people.landmarks.score[0] > max(0.5, whole_only)


class VanishingDetector:
    """A detector that sees the labelled person on its first ``runs`` runs, then nobody
    (as NanoDet saw a camera tripod in vtest.avi once, which the landmarks then followed)."""

    def __init__(self, runs: int) -> None:
        self.runs = runs

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.runs -= 1
        return (PERSON_BOX.copy(), np.ones(1)) if self.runs >= 0 else (np.zeros((0, 4)),
                                                                       np.zeros(0))


def test_a_followed_person_keeps_one_id_from_frame_to_frame(landmark_model, person):
    front = FrontEnd(CountingDetector(), landmark_model, FrontEndConfig(detect_every=2))
    image = frame_tensor(person)
    ids = [front.find(person, image).ids.tolist() for _ in range(5)]
    assert ids == [ids[0]] * 5 and len(ids[0]) == 1


def test_a_followed_person_the_detector_keeps_missing_is_dropped(landmark_model, person):
    front = FrontEnd(VanishingDetector(1), landmark_model,
                     FrontEndConfig(detect_every=1, confirm_runs=2))
    image = frame_tensor(person)
    # Frame 0 detects; frames 1 and 2 are detector runs that miss: dropped at the second.
    counts = [len(front.find(person, image).scores) for _ in range(4)]
    assert counts == [1, 1, 0, 0]


def test_without_confirmation_the_landmarks_alone_keep_a_followed_person(
        landmark_model, person):
    front = FrontEnd(VanishingDetector(1), landmark_model,
                     FrontEndConfig(detect_every=1, confirm_runs=0))
    image = frame_tensor(person)
    assert [len(front.find(person, image).scores) for _ in range(4)] == [1, 1, 1, 1]


def _mirror(xy: np.ndarray) -> np.ndarray:  # [N, 33, 2]
    """The same points with every left landmark and its right one swapped."""
    from nbf_ros.vision.frontend.landmarks import LANDMARK_NAMES

    swap = [LANDMARK_NAMES.index(n.replace("left_", "RIGHT_").replace("right_", "left_")
                                 .replace("RIGHT_", "right_")) for n in LANDMARK_NAMES]
    return xy[:, swap]


def test_a_person_read_twice_facing_opposite_ways_is_one_torso(landmark_model, person):
    from nbf_ros.vision.frontend.body_evidence import torso_distance

    xy = landmark_model(frame_tensor(person), rois_from_boxes(PERSON_BOX)).xy
    both = np.concatenate((xy, _mirror(xy)))
    assert torso_distance(both)[0, 1] == pytest.approx(0.0, abs=1e-9)
    as_read = np.linalg.norm(xy[0] - _mirror(xy)[0], axis=-1).mean()
    assert as_read > 5.0  # the mirrored reading's points are elsewhere, as read


def test_two_people_side_by_side_are_two_torsos(landmark_model, person):
    from nbf_ros.vision.frontend.body_evidence import torso_distance

    xy = landmark_model(frame_tensor(person), rois_from_boxes(PERSON_BOX)).xy
    beside = xy + [PERSON_BOX[0, 2] - PERSON_BOX[0, 0], 0.0]  # one person-width right
    distance = torso_distance(np.concatenate((xy, beside)))[0, 1]
    assert distance > FrontEndConfig().duplicate_torso
