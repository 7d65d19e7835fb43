"""Tracker: ids follow people across frames by box overlap; tracks end after their timeout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbf_ros.fitting.state import BodyState
from nbf_ros.fitting.tracking import Tracker, TrackerConfig, box_iou


def body(x: float) -> BodyState:
    """A one-person body state whose translation marks it."""
    return BodyState(torch.eye(3).expand(1, 24, 3, 3).clone(), torch.tensor([[x, 0.0, 3.0]]),
                     torch.zeros(1, 4))


def box(x0: float, width: float = 50.0) -> np.ndarray:
    return np.array([x0, 10.0, x0 + width, 110.0])


def step(tracker: Tracker, boxes: list[np.ndarray], now: float) -> list[int]:
    """One processed frame: match, then update with one state per box; the ids."""
    arr = np.stack(boxes) if boxes else np.zeros((0, 4))
    matched = tracker.match(arr, now)
    return tracker.update(matched, arr, [body(float(b[0])) for b in boxes], now)


class TestBoxIou:
    def test_identical_boxes_overlap_fully_and_disjoint_ones_not_at_all(self) -> None:
        iou = box_iou(np.stack([box(0), box(200)]), np.stack([box(0)]))
        assert iou[:, 0] == pytest.approx([1.0, 0.0])

    def test_half_shifted_box_has_iou_one_third(self) -> None:
        assert box_iou(box(0)[None], box(25)[None])[0, 0] == pytest.approx(1 / 3)


class TestTracker:
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
