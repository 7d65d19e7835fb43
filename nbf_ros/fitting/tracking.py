"""People tracked across frames: stable ids and the previous fit as the next warm start.

Each frame's detection boxes are matched to the live tracks by box overlap (IoU against the
track's box moved on at its image velocity), with an optimal one-to-one assignment
(Hungarian, scipy). A matched person keeps the track's id and starts its fit from the
track's last fitted body; an unmatched person opens a track with a new id (ids are never
reused while the tracker lives). A track ends once it is unseen for ``timeout`` seconds of
frame time and a processed frame has missed it: a node slower than its camera skips frames,
and those gaps alone must not end anyone's track. Frame time is the image stamp, so
replayed bags and simulated time behave like live input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from nbf_ros.fitting.state import BodyState

__all__ = ["Track", "Tracker", "TrackerConfig", "box_affinity", "box_iou"]


@dataclass
class TrackerConfig:
    """How detections become tracks."""

    # Seconds of frame time without a match before a track ends. Two seconds carry a
    # pedestrian past a post (vtest.avi: id switches 13 at 1 s, 11 at 2 s).
    timeout: float = 2.0
    # Affinity (box_affinity) below which a detection never continues a track.
    min_iou: float = 0.1
    # Centre distance, in box heights, within which a box of similar size may continue a
    # track without overlapping it (0: overlap only). Small far people moving a few pixels
    # overlap little; on vtest.avi id switches went from 11 to 8 with 1.0.
    reach: float = 1.0
    warm_start: bool = True  # start matched people's fits from their tracks' bodies

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        if not 0.0 < self.min_iou < 1.0:
            raise ValueError(f"min_iou must be in (0, 1), got {self.min_iou}")
        if self.reach < 0:
            raise ValueError(f"reach must be >= 0, got {self.reach}")


@dataclass
class Track:
    """One person followed across frames."""

    track_id: int
    box: np.ndarray  # [4] x0, y0, x1, y1 pixels, at last_seen
    velocity: np.ndarray  # [4] box change per second of frame time
    last_seen: float  # frame time, seconds
    state: BodyState | None  # fitted body of the last frame it was seen in (batch 1)
    hits: int = 1  # frames it was seen in
    missed: int = 0  # processed frames since it was last seen
    key: int | None = None  # the front end's id of the person it last matched

    def predicted_box(self, now: float) -> np.ndarray:
        """The box expected at frame time ``now`` (constant image velocity)."""
        return self.box + self.velocity * max(now - self.last_seen, 0.0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in a [N, 4] with every box in b [M, 4] -> [N, M]."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0.0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0.0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0.0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def box_affinity(a: np.ndarray, b: np.ndarray, reach: float) -> np.ndarray:
    """How well each box in a [N, 4] continues each box in b [M, 4] -> [N, M] in [0, 1]:
    their IoU, or half their nearness (1 at the same centre, 0 at ``reach`` box heights
    apart) where their heights differ by less than half, whichever is larger."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iou = box_iou(a, b)
    if reach <= 0:
        return iou
    ha = np.maximum(a[:, 3] - a[:, 1], 1.0)[:, None]
    hb = np.maximum(b[:, 3] - b[:, 1], 1.0)[None, :]
    centre_a = (a[:, None, :2] + a[:, None, 2:]) / 2
    centre_b = (b[None, :, :2] + b[None, :, 2:]) / 2
    apart = np.linalg.norm(centre_a - centre_b, axis=-1) / (0.5 * (ha + hb) * reach)
    near = np.where(np.maximum(ha, hb) < 1.5 * np.minimum(ha, hb),
                    np.clip(1.0 - apart, 0.0, 1.0), 0.0)
    return np.maximum(iou, 0.5 * near)


class Tracker:
    """Track ids and warm starts of the people of successive frames of one camera."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self._next_id = 1
        self._last_time: float | None = None

    def reset(self) -> None:
        """Forget every track (ids keep counting up: an id is never given twice)."""
        self.tracks = []
        self._last_time = None

    def match(self, boxes: np.ndarray, now: float,
              keys: np.ndarray | None = None) -> list[Track | None]:
        """The live track each detection box [N, 4] continues (None: a new person).

        ``keys`` [N] are the front end's ids of the people it follows: a detection whose key
        a track last matched continues that track whatever its box, since the front end saw
        the same person move; the others are matched by box overlap with the tracks whose
        key is not in this frame. Tracks past their timeout are ended first. A frame older
        than the last one (a bag played again, time jumping back) ends every track.
        """
        if self._last_time is not None and now < self._last_time:
            self.reset()
        self._last_time = now
        self.tracks = [t for t in self.tracks
                       if t.missed == 0 or now - t.last_seen <= self.config.timeout]
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        matched: list[Track | None] = [None] * len(boxes)
        free = list(self.tracks)
        if keys is not None:
            by_key = {t.key: t for t in self.tracks if t.key is not None}
            for i, key in enumerate(np.asarray(keys).tolist()):
                matched[i] = by_key.get(key)
            present = set(np.asarray(keys).tolist())
            free = [t for t in self.tracks if t.key not in present]
        rest = [i for i in range(len(boxes)) if matched[i] is None]
        if not free or not rest:
            return matched
        predicted = np.stack([t.predicted_box(now) for t in free])
        affinity = box_affinity(boxes[rest], predicted, self.config.reach)
        rows, cols = linear_sum_assignment(-affinity)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if affinity[r, c] >= self.config.min_iou:
                matched[rest[r]] = free[c]
        return matched

    def warm_starts(self, matched: list[Track | None]) -> list[BodyState | None]:
        """The body each matched person's fit starts from (None: a cold start)."""
        if not self.config.warm_start:
            return [None] * len(matched)
        return [t.state if t is not None else None for t in matched]

    def update(self, matched: list[Track | None], boxes: np.ndarray,
               states: list[BodyState | None], now: float,
               keys: np.ndarray | None = None) -> list[int]:
        """Record this frame's people (their boxes [N, 4], fitted bodies and front-end ids
        ``keys`` [N]); their track ids.

        A person whose state is None (its fit was rejected) keeps or gets an id but leaves no
        warm start behind.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        seen = {id(t) for t in matched if t is not None}
        for track in self.tracks:
            if id(track) not in seen:
                track.missed += 1
        ids = []
        keys = [None] * len(boxes) if keys is None else np.asarray(keys).tolist()
        for track, box, state, key in zip(matched, boxes, states, keys, strict=True):
            if track is None:
                track = Track(self._next_id, box.copy(), np.zeros(4), now, state)
                self._next_id += 1
                self.tracks.append(track)
            else:
                dt = now - track.last_seen
                if dt > 0:
                    # Smoothed so one jittery box does not fling the prediction away.
                    track.velocity = 0.5 * track.velocity + 0.5 * (box - track.box) / dt
                track.box, track.last_seen, track.state = box.copy(), now, state
                track.hits += 1
                track.missed = 0
            track.key = key
            ids.append(track.track_id)
        return ids
