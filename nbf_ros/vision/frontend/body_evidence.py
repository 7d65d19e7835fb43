"""What BlazePose landmarks say about our body model: 2D keypoints in its joint set, and
the torso's orientation from the metric world landmarks.

Only the twelve limb joints are mapped (shoulders, elbows, wrists, hips, knees, ankles):
BlazePose's face and foot points have no joint of the same place in the SMPL-like set, and
its hip points sit where the thigh meets the pelvis, as the body's hip joints do (closely
enough for a robust term with a few pixels of scale).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nbf_ros.vision.frontend.landmarks import LANDMARK_NAMES, PersonLandmarks

__all__ = ["LIMB_JOINTS", "body_keypoints", "person_confidence", "torso_distance",
           "torso_rotation"]

# Joint names shared by the body model's joint set and BlazePose's landmark names.
LIMB_JOINTS = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
               "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
               "left_ankle", "right_ankle")
TORSO = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")


def body_keypoints(lm: PersonLandmarks, joint_names: Sequence[str]
                   ) -> tuple[np.ndarray, np.ndarray]:  # [N, J, 2], [N, J]
    """Landmarks as 2D keypoints (image pixels) of a body's joints, and their confidence:
    the chance each is in the image and in view; 0 for joints BlazePose has no point for."""
    n, num_j = len(lm), len(joint_names)
    xy = np.zeros((n, num_j, 2))
    conf = np.zeros((n, num_j))
    for j, name in enumerate(joint_names):
        if name in LIMB_JOINTS:
            k = LANDMARK_NAMES.index(name)
            xy[:, j] = lm.xy[:, k]
            conf[:, j] = lm.visibility[:, k] * lm.presence[:, k]
    return xy, conf


def torso_rotation(lm: PersonLandmarks, rest_torso: np.ndarray) -> np.ndarray:  # [N, 3, 3]
    """Rotations R (camera frame) best turning a body's torso joints ``rest_torso``
    [N, 4, 3] (left hip, right hip, left shoulder, right shoulder, with the root unrotated)
    onto the same world landmarks, in least squares about their centroids (Kabsch)."""
    idx = [LANDMARK_NAMES.index(name) for name in TORSO]
    target = lm.world[:, idx]  # [N, 4, 3]
    p = rest_torso - rest_torso.mean(1, keepdims=True)
    q = target - target.mean(1, keepdims=True)
    h = p.transpose(0, 2, 1) @ q  # [N, 3, 3]
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.transpose(0, 2, 1) @ u.transpose(0, 2, 1)))
    fix = np.zeros((len(d), 3, 3))
    fix[:, 0, 0] = fix[:, 1, 1] = 1.0
    fix[:, 2, 2] = d  # a proper rotation, never a reflection
    return vt.transpose(0, 2, 1) @ fix @ u.transpose(0, 2, 1)


def person_confidence(lm: PersonLandmarks) -> np.ndarray:  # [N]
    """How sure the landmarks are of each person: the model's person score times the mean
    chance that the limb joints lie in the image, so a person half out of view reads about
    half (the score alone stays near 1 until the person is nearly gone)."""
    idx = [LANDMARK_NAMES.index(name) for name in LIMB_JOINTS]
    return lm.score * lm.presence[:, idx].mean(1)


def torso_distance(xy: np.ndarray) -> np.ndarray:  # [N, 33, 2] -> [N, N]
    """How far apart each two readings' torsos are (nose, shoulders, hips: mean distance of
    the same points over the mean of the two torso lengths), taking the smaller of left as
    left and left as right: the landmark model sometimes reads one person twice, once
    facing the other way (messi5.jpg: 0.2 torso lengths apart mirrored, 0.6 as read)."""
    names = ("nose", *TORSO)
    idx = [LANDMARK_NAMES.index(name) for name in names]
    mirror = [LANDMARK_NAMES.index(_mirrored(name)) for name in names]
    pts, flipped = xy[:, idx], xy[:, mirror]  # [N, 5, 2]
    shoulders, hips = pts[:, 3:5].mean(1), pts[:, 1:3].mean(1)
    length = np.maximum(np.linalg.norm(shoulders - hips, axis=-1), 1.0)  # [N]
    scale = 0.5 * (length[:, None] + length[None, :])
    as_read = np.linalg.norm(pts[:, None] - pts[None], axis=-1).mean(-1)
    swapped = np.linalg.norm(pts[:, None] - flipped[None], axis=-1).mean(-1)
    return np.minimum(as_read, swapped) / scale


def _mirrored(name: str) -> str:
    """The landmark on the other side of the body (the nose is its own)."""
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name
