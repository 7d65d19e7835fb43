"""Scores of people found in real images against boxes and 2D joints labelled by hand:
detection recall and precision, PCK normalised by the person's box, facing direction, and
track ids through a video.

Convention: image pixels; boxes x0, y0, x1, y1; joints in the labels' order (LABEL_JOINTS);
"left"/"right" are the person's own sides. People shorter than ``min_height`` pixels are
neither counted as missed nor as false when found (COCO's "ignore" regions work the same
way).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nbf_ros.fitting.tracking import box_iou

__all__ = ["LABEL_JOINTS", "FrameMatch", "Person", "facing_from_3d", "match_people",
           "pck_errors"]

LABEL_JOINTS = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                "right_knee", "left_ankle", "right_ankle")


@dataclass
class Person:
    """One person, labelled or estimated."""

    box: np.ndarray  # [4] x0, y0, x1, y1 pixels
    joints: np.ndarray | None = None  # [12, 3] x, y, v (v: 0 none, 1 hidden, 2 in view)
    facing: str | None = None  # "front", "back", "side" or None (unknown)
    occluded: bool = False  # partly hidden (labels only)
    score: float = 1.0  # detection confidence (estimates only)
    track_id: int | None = None  # labelled pedestrian id, or the estimate's track id

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return float(self.box[3] - self.box[1])


@dataclass
class FrameMatch:
    """Labelled people of one frame matched to estimates (index into the estimates, or None)."""

    matches: list[int | None]  # per labelled person
    counted: list[bool]  # per labelled person: tall enough to count
    false_positives: int  # estimates matching no counted or ignored person
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def found(self) -> int:
        """Counted labelled people that were found."""
        return sum(m is not None and c for m, c in zip(self.matches, self.counted, strict=True))


def match_people(truth: list[Person], found: list[Person], min_iou: float = 0.5,
                 min_height: float = 50.0) -> FrameMatch:
    """Greedy matching by box IoU, best-scoring estimates first, each labelled person at most
    once; an estimate on a person below ``min_height`` is neither a hit nor a false one."""
    counted = [p.height >= min_height for p in truth]
    matches: list[int | None] = [None] * len(truth)
    taken = np.zeros(len(truth), dtype=bool)
    false_positives = 0
    truth_boxes = np.stack([p.box for p in truth]) if truth else np.zeros((0, 4))
    for k in np.argsort([-p.score for p in found], kind="stable").tolist():
        iou = np.where(taken, -1.0, box_iou(found[k].box, truth_boxes)[0])
        best = int(np.argmax(iou)) if len(iou) else -1
        if best < 0 or iou[best] < min_iou:
            false_positives += 1
            continue
        taken[best] = True
        if counted[best]:
            matches[best] = k
    return FrameMatch(matches, counted, false_positives)


def pck_errors(truth: Person, found: Person | None) -> np.ndarray:  # [L]
    """Errors of the labelled joints (v > 0) over the labelled box's longer side; inf for
    every joint of a person not found."""
    if truth.joints is None:
        return np.zeros(0)
    labelled = truth.joints[:, 2] > 0
    side = float(max(truth.box[2] - truth.box[0], truth.box[3] - truth.box[1]))
    if found is None or found.joints is None:
        return np.full(int(labelled.sum()), np.inf)
    err = np.linalg.norm(found.joints[:, :2] - truth.joints[:, :2], axis=-1) / side
    err = np.where(np.isfinite(err), err, np.inf)
    return err[labelled]


def facing_from_3d(joints: np.ndarray, names: tuple[str, ...] | list[str],
                   ray: np.ndarray | None = None) -> str:
    """Whether a body with 3D joints [J, 3] (camera frame: x right, y down, z forward) shows
    the camera its front or its back: its forward direction, (person's left) x (up), against
    the ray to it (``ray``: camera to body, default the optical axis)."""
    def at(name: str) -> np.ndarray:
        return joints[list(names).index(name)]

    left = (at("left_shoulder") - at("right_shoulder")) + (at("left_hip") - at("right_hip"))
    up = (at("left_shoulder") + at("right_shoulder")) - (at("left_hip") + at("right_hip"))
    forward = np.cross(left, up)
    ray = np.array([0.0, 0.0, 1.0]) if ray is None else ray
    return "front" if float(forward @ ray) < 0 else "back"
