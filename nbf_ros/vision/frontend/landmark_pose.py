"""A body pose from BlazePose's metric world landmarks: the fit's start for a new person.

Closed-form inverse kinematics: the root turns the torso onto the landmarks' hips and
shoulders (Kabsch), the spine and head stay at rest, and each limb bone (upper arm, forearm,
thigh, shin) turns by the smallest rotation that lays it along the landmarks' bone, parents
first. Twist about a bone is not observed by four points per limb and stays its parent's.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from nbf_ros.body.compact import CompactBody
from nbf_ros.vision.frontend.body_evidence import TORSO, torso_rotation
from nbf_ros.vision.frontend.landmarks import LANDMARK_NAMES, PersonLandmarks

__all__ = ["LIMB_BONES", "landmark_pose", "shortest_rotation"]

# (joint whose rotation moves the bone, the bone's end), parents first.
LIMB_BONES = (
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
)


def shortest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # [N, 3] x2 -> [N, 3, 3]
    """The smallest rotations taking directions a [N, 3] to directions b [N, 3]."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True).clip(1e-12)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True).clip(1e-12)
    v = np.cross(a, b)
    c = (a * b).sum(-1)
    skew = np.zeros((len(a), 3, 3))
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    skew -= skew.transpose(0, 2, 1)
    eye = np.broadcast_to(np.eye(3), skew.shape)
    out = eye + skew + skew @ skew / np.clip(1.0 + c, 1e-9, None)[:, None, None]
    # Opposite directions: half a turn about any axis square to a.
    opposite = c < -1.0 + 1e-9
    if opposite.any():
        axis = np.cross(a[opposite], np.eye(3)[np.argmin(np.abs(a[opposite]), axis=1)])
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        out[opposite] = 2 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return out


def _global(rot: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:  # [N, J, 3, 3]
    """Global rotations of every joint's bone from local ones [N, J, 3, 3]."""
    out = rot.copy()
    for j, p in enumerate(parents):
        if p >= 0:
            out[:, j] = out[:, p] @ rot[:, j]
    return out


@torch.no_grad()
def landmark_pose(body: CompactBody, lm: PersonLandmarks, shape: Tensor  # [N, S]
                  ) -> Tensor:  # [N, J, 3, 3]
    """Local rotations (root first) posing each body's torso and limbs like its world
    landmarks, camera frame."""
    names = body.joint_names
    _, rest = body.rest(shape)
    rest = rest.double().cpu().numpy()  # [N, J, 3]
    n, num_j = rest.shape[:2]
    rot = np.broadcast_to(np.eye(3), (n, num_j, 3, 3)).copy()
    torso = [names.index(name) for name in TORSO]
    rot[:, 0] = torso_rotation(lm, rest[:, torso])
    world = lm.world
    for joint, end in LIMB_BONES:
        j, e = names.index(joint), names.index(end)
        parent = body.parents[j]
        glob = _global(rot, body.parents)[:, parent]  # [N, 3, 3]
        current = (glob @ (rest[:, e] - rest[:, j])[..., None])[..., 0]
        target = world[:, LANDMARK_NAMES.index(end)] - world[:, LANDMARK_NAMES.index(joint)]
        turn = shortest_rotation(current, target)
        rot[:, j] = glob.transpose(0, 2, 1) @ turn @ glob
    return torch.as_tensor(rot, dtype=shape.dtype, device=shape.device)
