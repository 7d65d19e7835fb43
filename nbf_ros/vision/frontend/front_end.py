"""The real-trained front end: people found by a detector, read by BlazePose's landmark model,
and followed from frame to frame through the ROIs their own landmarks give.

Following people as MediaPipe does, the detector need not run on every frame: a followed
person's next ROI comes from its alignment landmarks, and the landmark model's person score
confirms it in every frame it is published (a person who walked away scores low and is
dropped, so no track outlives its evidence). The detector runs on the first frame, every
``detect_every`` frames after it (to pick up newcomers), and whenever nobody is followed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from nbf_ros.fitting.tracking import box_iou
from nbf_ros.vision.frontend.body_evidence import person_confidence
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
    # A detection overlapping a followed person's box this much is that person (IoU).
    followed_iou: float = 0.3
    # Two readings whose landmark boxes overlap this much are one person (IoU).
    duplicate_iou: float = 0.6

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if not 0.0 < self.min_score < 1.0:
            raise ValueError(f"min_score must be in (0, 1), got {self.min_score}")
        if self.max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {self.max_people}")


@dataclass
class FrontEndPeople:
    """The people of one frame, best first."""

    boxes: np.ndarray  # [N, 4] around each person's landmarks, image pixels
    scores: np.ndarray  # [N] confidence: person score x share of limbs in the image
    landmarks: PersonLandmarks
    detected: bool  # whether the detector ran on this frame


class FrontEnd:
    """Detector + landmark model + following, for one camera."""

    def __init__(self, detector: Detector, landmarks: LandmarkModel,
                 config: FrontEndConfig | None = None) -> None:
        self.detector = detector
        self.landmarks = landmarks
        self.config = config or FrontEndConfig()
        self.reset()

    def reset(self) -> None:
        """Forget the people followed (the next frame runs the detector)."""
        self._next: Roi | None = None
        self._boxes = np.zeros((0, 4))
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
        rois: list[Roi] = [] if followed is None else [followed]
        detect = (followed is None or len(followed) == 0
                  or self._since_detect + 1 >= cfg.detect_every)
        if detect:
            boxes, _ = self.detector(rgb)
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            if followed is not None and len(boxes) and len(self._boxes):
                new = box_iou(boxes, self._boxes).max(1) < cfg.followed_iou
                boxes = boxes[new]
            # Each box read twice: as a whole person, and as the top of one whose legs are
            # hidden (a table, a panel) or cut off; the better reading wins (_keep).
            rois += [rois_from_boxes(boxes), upper_body_rois(boxes)]
            self._since_detect = 0
        else:
            self._since_detect += 1
        roi = _concat(rois)
        read = self.landmarks(image, roi)
        people = read.index(_keep(read, cfg, 0 if followed is None else len(followed)))
        self._next = people.next_roi if follow else None
        self._boxes = people.boxes()
        return FrontEndPeople(self._boxes.copy(), person_confidence(people), people, detect)

    def _given(self, image: Tensor, boxes: np.ndarray) -> FrontEndPeople:
        """The caller's boxes [N, 4] as its people, one reading each, whatever they score
        (following starts afresh after them)."""
        self.reset()
        read = self.landmarks(image, rois_from_boxes(boxes))
        return FrontEndPeople(boxes, person_confidence(read), read, False)

    def read_box(self, images: list[Tensor], box: np.ndarray) -> PersonLandmarks:
        """Landmarks of one person box [4] in each of several frames [3, H, W]."""
        roi = rois_from_boxes(np.asarray(box, dtype=np.float64)[None])
        return concat_landmarks([self.landmarks(image, roi) for image in images])


def _concat(rois: list[Roi]) -> Roi:
    """One Roi of several."""
    if not rois:
        return Roi(np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)))
    return concat_rois(rois)


def _keep(read: PersonLandmarks, cfg: FrontEndConfig, followed: int) -> list[int]:
    """Indices of the readings that hold a person, best score first, one per person, at most
    ``max_people``. The first ``followed`` readings are followed people; the rest are the
    detections' two readings each (whole person, then top of a person), of which the better
    stands for that detection. A reading overlapping a better one is its duplicate."""
    n = (len(read) - followed) // 2
    best = [followed + j if read.score[followed + j] >= read.score[followed + n + j]
            else followed + n + j for j in range(n)]
    candidates = list(range(followed)) + best
    order = sorted((i for i in candidates if read.score[i] >= cfg.min_score),
                   key=lambda i: -read.score[i])
    if not order:
        return []
    boxes = read.boxes()
    kept: list[int] = []
    for i in order:
        if kept and box_iou(boxes[i], boxes[kept]).max() >= cfg.duplicate_iou:
            continue
        kept.append(i)
        if len(kept) == cfg.max_people:
            break
    return kept
