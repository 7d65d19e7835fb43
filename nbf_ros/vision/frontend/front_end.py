"""The real-trained front end: people found by a detector, read by BlazePose's landmark model,
and followed from frame to frame through the ROIs their own landmarks give.

Following people as MediaPipe does, the detector need not run on every frame: a followed
person's next ROI comes from its alignment landmarks, and the landmark model's person score
confirms it in every frame it is published (a person who walked away scores low and is
dropped, so no track outlives its evidence). The detector runs on the first frame, every
``detect_every`` frames after it (to pick up newcomers), and whenever nobody is followed.

Each person keeps one id while followed, so the tracker need not guess identity from box
overlap where people walk past each other. The landmark model alone is too willing: on
``vtest.avi`` it scored a camera tripod 0.8-0.96 as a person for 180 frames. So a followed
person must also be seen by the detector now and then: one it misses on ``confirm_runs``
runs in a row is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from nbf_ros.fitting.tracking import box_iou
from nbf_ros.vision.frontend.body_evidence import person_confidence, torso_distance
from nbf_ros.vision.frontend.landmarks import LandmarkModel, PersonLandmarks, concat_landmarks
from nbf_ros.vision.frontend.roi import Roi, concat_rois, rois_from_boxes, upper_body_rois

__all__ = ["FrontEnd", "FrontEndConfig", "FrontEndPeople"]

# A detector: RGB uint8 frame [H, W, 3] -> boxes [N, 4] (x0, y0, x1, y1 pixels), scores [N].
Detector = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class FrontEndConfig:
    """How people are found and followed."""

    detect_every: int = 5  # frames between detector runs while someone is followed (1: all)
    min_score: float = 0.5  # landmark model's person score needed to keep a person
    max_people: int = 8
    # A detection overlapping a followed person's box this much is that person (IoU; one
    # detection per person).
    followed_iou: float = 0.3
    # Two readings whose landmark boxes overlap this much are one person (IoU)...
    duplicate_iou: float = 0.6
    # ... and so are two whose torsos lie this close, in torso lengths (torso_distance).
    duplicate_torso: float = 0.3
    # Detector runs in a row that may miss a followed person before it is dropped (0: the
    # landmarks alone keep a person).
    confirm_runs: int = 3

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if not 0.0 < self.min_score < 1.0:
            raise ValueError(f"min_score must be in (0, 1), got {self.min_score}")
        if self.max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {self.max_people}")
        if self.confirm_runs < 0:
            raise ValueError(f"confirm_runs must be >= 0, got {self.confirm_runs}")


@dataclass
class FrontEndPeople:
    """The people of one frame, best first."""

    boxes: np.ndarray  # [N, 4] around each person's landmarks, image pixels
    scores: np.ndarray  # [N] confidence: person score x share of limbs in the image
    landmarks: PersonLandmarks
    detected: bool  # whether the detector ran on this frame
    ids: np.ndarray  # [N] int: one per person while the front end follows it


class FrontEnd:
    """Detector + landmark model + following, for one camera."""

    def __init__(self, detector: Detector, landmarks: LandmarkModel,
                 config: FrontEndConfig | None = None) -> None:
        self.detector = detector
        self.landmarks = landmarks
        self.config = config or FrontEndConfig()
        self._next_id = 1  # ids keep counting up: an id is never given twice
        self.reset()

    def reset(self) -> None:
        """Forget the people followed (the next frame runs the detector)."""
        self._next: Roi | None = None
        self._boxes = np.zeros((0, 4))
        self._ids = np.zeros(0, dtype=np.int64)
        self._missed = np.zeros(0, dtype=np.int64)  # detector runs in a row without a box
        self._since_detect = 0

    def find(self, rgb: np.ndarray, image: Tensor, follow: bool = True,
             boxes: np.ndarray | None = None) -> FrontEndPeople:
        """People in an RGB frame (uint8 [H, W, 3], and as [3, H, W] in [0, 1]); ``follow``
        continues from the previous frame's people; given ``boxes`` [N, 4] replace the
        detector."""
        cfg = self.config
        given = None if boxes is None else np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if given is not None:
            return self._given(image, given)
        followed = self._next if follow and self._next is not None else None
        if followed is None:
            self._ids, self._missed = self._ids[:0], self._missed[:0]
        detect = (followed is None or len(followed) == 0
                  or self._since_detect + 1 >= cfg.detect_every)
        boxes = np.zeros((0, 4))
        if detect:
            boxes, _ = self.detector(rgb)
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            self._since_detect = 0
            if followed is not None:
                followed, boxes = self._confirm(followed, boxes)
        else:
            self._since_detect += 1
        n_followed = 0 if followed is None else len(followed)
        # Each box read twice: as a whole person, and as the top of one whose legs are
        # hidden (a table, a panel) or cut off; the better reading wins (_keep).
        rois = ([] if followed is None else [followed]) + (
            [rois_from_boxes(boxes), upper_body_rois(boxes)] if len(boxes) else [])
        read = self.landmarks(image, _concat(rois))
        same = same_person(read, cfg)
        kept = _keep(read, cfg, n_followed, same)
        ids, missed = self._identities(same, kept, n_followed)
        people = read.index(kept)
        self._next = people.next_roi if follow else None
        self._boxes, self._ids, self._missed = people.boxes(), ids, missed
        return FrontEndPeople(self._boxes.copy(), person_confidence(people), people, detect,
                              ids.copy())

    def _confirm(self, followed: Roi, boxes: np.ndarray) -> tuple[Roi, np.ndarray]:
        """The followed people the detector still supports (its boxes [M, 4] overlap theirs,
        or it has missed them fewer than ``confirm_runs`` times in a row), and its boxes of
        people not followed yet."""
        cfg = self.config
        iou = box_iou(boxes, self._boxes)  # [M, F]
        # One detection per followed person, the best overlapping: in a group walking close
        # together a neighbour's box overlaps a followed one too, and is a person to read.
        pairs = np.zeros_like(iou, dtype=bool)
        if iou.size:
            rows, cols = linear_sum_assignment(-iou)
            pairs[rows, cols] = iou[rows, cols] >= cfg.followed_iou
        self._missed = np.where(pairs.any(0), 0, self._missed + 1)
        keep = (self._missed < cfg.confirm_runs if cfg.confirm_runs
                else np.ones(len(self._missed), dtype=bool))
        self._ids, self._missed, self._boxes = (self._ids[keep], self._missed[keep],
                                                self._boxes[keep])
        new = ~pairs[:, keep].any(1)
        return followed.index(np.flatnonzero(keep)), boxes[new]

    def _identities(self, same: np.ndarray, kept: list[int],
                    followed: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids [K] and detector misses [K] of the kept readings: a followed person keeps its
        own; a new reading that won over a followed one as its duplicate takes that one's; any
        other is a new person (``same`` [N, N]: same_person of the readings)."""
        ids = np.zeros(len(kept), dtype=np.int64)
        missed = np.zeros(len(kept), dtype=np.int64)
        taken = {i for i in kept if i < followed}
        for k, i in enumerate(kept):
            if i < followed:
                ids[k], missed[k] = self._ids[i], self._missed[i]
                continue
            twins = [j for j in range(followed) if j not in taken and same[i, j]]
            if twins:
                ids[k] = self._ids[twins[0]]
                taken.add(twins[0])
                continue
            ids[k] = self._next_id
            self._next_id += 1
        return ids, missed

    def _given(self, image: Tensor, boxes: np.ndarray) -> FrontEndPeople:
        """The caller's boxes [N, 4] as its people, one reading each, whatever they score
        (following starts afresh after them)."""
        self.reset()
        read = self.landmarks(image, rois_from_boxes(boxes))
        ids = np.arange(self._next_id, self._next_id + len(boxes))
        self._next_id += len(boxes)
        return FrontEndPeople(boxes, person_confidence(read), read, False, ids)

    def read_box(self, images: list[Tensor], box: np.ndarray) -> PersonLandmarks:
        """Landmarks of one person box [4] in each of several frames [3, H, W]."""
        roi = rois_from_boxes(np.asarray(box, dtype=np.float64)[None])
        return concat_landmarks([self.landmarks(image, roi) for image in images])


def _concat(rois: list[Roi]) -> Roi:
    """One Roi of several."""
    if not rois:
        return Roi(np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)))
    return concat_rois(rois)


def same_person(read: PersonLandmarks, cfg: FrontEndConfig) -> np.ndarray:  # [N, N] bool
    """Whether each two readings are of one person: their boxes overlap by
    ``duplicate_iou`` or their torsos lie within ``duplicate_torso`` torso lengths."""
    boxes = read.boxes()
    return ((box_iou(boxes, boxes) >= cfg.duplicate_iou)
            | (torso_distance(read.xy) < cfg.duplicate_torso))


def _keep(read: PersonLandmarks, cfg: FrontEndConfig, followed: int,
          same: np.ndarray) -> list[int]:
    """Indices of the readings that hold a person, best score first, one per person, at most
    ``max_people``. The first ``followed`` readings are followed people; the rest are the
    detections' two readings each (whole person, then top of a person), of which the better
    stands for that detection. A reading of the same person as a better one (``same`` [N, N],
    same_person) is its duplicate."""
    n = (len(read) - followed) // 2
    best = [followed + j if read.score[followed + j] >= read.score[followed + n + j]
            else followed + n + j for j in range(n)]
    candidates = list(range(followed)) + best
    order = sorted((i for i in candidates if read.score[i] >= cfg.min_score),
                   key=lambda i: -read.score[i])
    if not order:
        return []
    kept: list[int] = []
    for i in order:
        if kept and same[i, kept].any():
            continue
        kept.append(i)
        if len(kept) == cfg.max_people:
            break
    return kept
