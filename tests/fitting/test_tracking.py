"""Tracker: ids follow people across frames by the front end's ids, box overlap or nearness;
tracks end after their timeout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbf_ros.fitting.state import BodyState
from nbf_ros.fitting.tracking import Tracker, TrackerConfig, box_affinity, box_iou


def body(x: float) -> BodyState:
    """A one-person body state whose translation marks it."""
    return BodyState(torch.eye(3).expand(1, 24, 3, 3).clone(), torch.tensor([[x, 0.0, 3.0]]),
                     torch.zeros(1, 4))


def box(x0: float, width: float = 50.0) -> np.ndarray:
    return np.array([x0, 10.0, x0 + width, 110.0])


def step(tracker: Tracker, boxes: list[np.ndarray], now: float,
         keys: list[int] | None = None) -> list[int]:
    """One processed frame: match, then update with one state per box; the ids."""
    arr = np.stack(boxes) if boxes else np.zeros((0, 4))
    key_arr = None if keys is None else np.array(keys)
    matched = tracker.match(arr, now, key_arr)
    return tracker.update(matched, arr, [body(float(b[0])) for b in boxes], now, key_arr)


class TestBoxIou:
    def test_identical_boxes_overlap_fully_and_disjoint_ones_not_at_all(self) -> None:
        iou = box_iou(np.stack([box(0), box(200)]), np.stack([box(0)]))
        assert iou[:, 0] == pytest.approx([1.0, 0.0])

    def test_half_shifted_box_has_iou_one_third(self) -> None:
        assert box_iou(box(0)[None], box(25)[None])[0, 0] == pytest.approx(1 / 3)


class TestBoxAffinity:
    def test_a_near_box_of_the_same_size_continues_without_overlap(self) -> None:
        # 60 px apart, boxes 100 px tall: no overlap, 0.6 heights apart.
        affinity = box_affinity(box(0)[None], box(60)[None], reach=1.0)[0, 0]
        assert box_iou(box(0)[None], box(60)[None])[0, 0] == 0.0
        assert affinity == pytest.approx(0.5 * (1 - 0.6))

    def test_a_box_twice_the_height_is_not_near(self) -> None:
        tall = np.array([0.0, 10.0, 50.0, 210.0])
        far = tall + [60.0, 0.0, 60.0, 0.0]
        assert box_affinity(box(0)[None], far[None], reach=1.0)[0, 0] == 0.0

    def test_reach_zero_is_the_overlap(self) -> None:
        assert box_affinity(box(0)[None], box(25)[None], reach=0.0)[0, 0] == pytest.approx(
            1 / 3)


class TestTracker:
    def test_the_front_ends_id_beats_box_overlap(self) -> None:
        # Two people cross: their boxes swap places, the front end that follows them knows.
        tracker = Tracker()
        assert step(tracker, [box(0), box(30)], 0.0, keys=[7, 8]) == [1, 2]
        assert step(tracker, [box(30), box(0)], 0.1, keys=[7, 8]) == [1, 2]

    def test_a_new_front_end_id_continues_a_lost_track_nearby(self) -> None:
        # The front end lost a person and found them again: a new key, the same place.
        tracker = Tracker()
        step(tracker, [box(0)], 0.0, keys=[3])
        step(tracker, [], 0.5, keys=[])
        assert step(tracker, [box(40)], 1.0, keys=[9]) == [1]

    def test_a_key_still_followed_is_not_taken_by_a_new_one(self) -> None:
        tracker = Tracker()
        step(tracker, [box(0)], 0.0, keys=[3])
        assert step(tracker, [box(2), box(4)], 0.1, keys=[3, 4]) == [1, 2]

    def test_moving_people_keep_their_ids(self) -> None:
        tracker = Tracker()
        first = step(tracker, [box(0), box(200)], 0.0)
        ids = [step(tracker, [box(200 + 4 * t), box(4 * t)], 0.1 * t) for t in range(1, 8)]
        assert first == [1, 2]
        assert all(i == [2, 1] for i in ids)  # listed in the other order, ids follow

    def test_matched_person_starts_from_its_tracks_last_body(self) -> None:
        tracker = Tracker()
        step(tracker, [box(0)], 0.0)
        matched = tracker.match(np.stack([box(3), box(300)]), 0.1)
        warm = tracker.warm_starts(matched)
        assert warm[0] is not None and warm[0].translation[0, 0] == 0.0
        assert warm[1] is None

    def test_warm_start_off_gives_cold_starts_but_keeps_ids(self) -> None:
        tracker = Tracker(TrackerConfig(warm_start=False))
        step(tracker, [box(0)], 0.0)
        matched = tracker.match(np.stack([box(3)]), 0.1)
        assert tracker.warm_starts(matched) == [None] and matched[0] is not None

    def test_track_missed_past_its_timeout_ends_and_ids_are_not_reused(self) -> None:
        tracker = Tracker(TrackerConfig(timeout=0.5))
        step(tracker, [box(0)], 0.0)
        step(tracker, [], 0.3)  # a processed frame that misses the person
        assert step(tracker, [box(0)], 0.9) == [2]

    def test_skipped_frames_alone_do_not_end_a_track(self) -> None:
        # A slow node answers a frame 2 s later; nobody was missed in between.
        tracker = Tracker(TrackerConfig(timeout=0.5))
        step(tracker, [box(0)], 0.0)
        assert step(tracker, [box(2)], 2.0) == [1]

    def test_time_going_back_ends_every_track(self) -> None:
        tracker = Tracker()
        step(tracker, [box(0)], 5.0)
        assert step(tracker, [box(0)], 1.0) == [2]

    def test_rejected_fit_leaves_no_warm_start(self) -> None:
        tracker = Tracker()
        matched = tracker.match(np.stack([box(0)]), 0.0)
        tracker.update(matched, np.stack([box(0)]), [None], 0.0)
        assert tracker.warm_starts(tracker.match(np.stack([box(1)]), 0.1)) == [None]

    @pytest.mark.parametrize("kwargs", [{"timeout": 0.0}, {"min_iou": 1.5}])
    def test_bad_config_is_refused(self, kwargs: dict) -> None:
        with pytest.raises(ValueError):
            TrackerConfig(**kwargs)
