"""Ground truth from a JSON sidecar file, for recordings whose truth is not in the bag.

Format (one file per bag; camera optical frame of the images, metres, pixels)::

    {
      "joint_names": ["pelvis", "left_hip", ...],   # SMPL-24 names, in this order
      "frames": [
        {"stamp_ns": 1700000000000000000,           # header stamp of the image
         "people": [
           {"track_id": 1,                          # the same person keeps its id
            "joints": [[x, y, z], ...],             # one per joint name, metres
            "keypoints_2d": [[u, v], ...],          # optional: else projected with K
            "joint_state": [0, 1, ...],             # optional: 0 visible, 1 occluded,
                                                    #   2 outside the image, 255 unknown
            "box": [x0, y0, x1, y1]}]}]             # optional: else around keypoints_2d
    }

Only SMPL-24 joint sets are compared (the estimator's joints); a file with other names is
refused with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nbf_ros.body.joints import SMPL24_NAMES
from nbf_ros.estimate import HumanEstimate, JointState

__all__ = ["TruthFileError", "load_truth_json", "truth_person"]


class TruthFileError(ValueError):
    """A ground-truth sidecar that does not follow the documented format."""


def truth_person(person: dict[str, Any], K: np.ndarray | None, where: str) -> HumanEstimate:
    """One person of the sidecar as a HumanEstimate (rotations and shape unknown)."""
    n = len(SMPL24_NAMES)
    try:
        joints = np.asarray(person["joints"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise TruthFileError(f"{where}: 'joints' must be {n} [x, y, z] lists") from exc
    if joints.shape != (n, 3) or not np.isfinite(joints).all():
        raise TruthFileError(f"{where}: 'joints' must be {n} finite [x, y, z], got shape "
                             f"{joints.shape}")
    if "keypoints_2d" in person:
        uv = np.asarray(person["keypoints_2d"], dtype=np.float64)
        if uv.shape != (n, 2):
            raise TruthFileError(f"{where}: 'keypoints_2d' must be {n} [u, v], got {uv.shape}")
    elif K is not None:
        if (joints[:, 2] <= 0).any():
            raise TruthFileError(f"{where}: joints behind the camera cannot be projected; "
                                 "give keypoints_2d")
        proj = joints @ np.asarray(K, dtype=np.float64).T
        uv = proj[:, :2] / proj[:, 2:]
    else:
        raise TruthFileError(f"{where}: no keypoints_2d and no camera intrinsics to project")
    state = np.asarray(person.get("joint_state", [JointState.UNKNOWN] * n), dtype=np.int64)
    if state.shape != (n,) or not np.isin(state, [s.value for s in JointState]).all():
        raise TruthFileError(f"{where}: 'joint_state' must be {n} of 0, 1, 2, 255")
    box = np.asarray(person.get("box", [*uv.min(0), *uv.max(0)]), dtype=np.float64)
    if box.shape != (4,):
        raise TruthFileError(f"{where}: 'box' must be [x0, y0, x1, y1]")
    return HumanEstimate(
        joints=joints, joint_visibility=(state == JointState.VISIBLE).astype(np.float64),
        joint_state=state.astype(np.uint8), keypoints_2d=uv, root_translation=joints[0],
        root_rotation=np.eye(3), bone_rotations=np.tile(np.eye(3), (n - 1, 1, 1)),
        shape=np.zeros(0), roi=box, track_id=int(person.get("track_id", 0)))


def load_truth_json(path: str | Path, K: np.ndarray | None = None
                    ) -> dict[int, list[HumanEstimate]]:
    """People of every frame of a sidecar, by image stamp; K projects joints without
    keypoints_2d."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TruthFileError(f"cannot read ground truth {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise TruthFileError(f"{path}: expected an object with a 'frames' list")
    names = tuple(data.get("joint_names", SMPL24_NAMES))
    if names != SMPL24_NAMES:
        raise TruthFileError(f"{path}: joint_names must be the SMPL-24 names in order "
                             f"({', '.join(SMPL24_NAMES)})")
    out: dict[int, list[HumanEstimate]] = {}
    for i, frame in enumerate(data["frames"]):
        where = f"{path} frame {i}"
        if not isinstance(frame, dict) or not isinstance(frame.get("stamp_ns"), int):
            raise TruthFileError(f"{where}: needs an integer 'stamp_ns'")
        people = frame.get("people", [])
        out[frame["stamp_ns"]] = [truth_person(p, K, f"{where} person {j}")
                                  for j, p in enumerate(people)]
    return out
