"""Tiny stand-in files in the published 3DPW and EFT formats, built from a known body state.

The real data are licensed, so tests write their own: a toy SMPL skeleton (approximate rest
joints of SMPL's neutral model) is posed by forward kinematics written here with scipy's
rotations, independently of the code under test, and the files hold what the formats hold.

3DPW pickles are written the way the Python 2 originals are: protocol 2, byte strings
(SHORT_BINSTRING/BINSTRING opcodes, which only ``encoding='latin1'`` reads as text) and numpy
1's module names (``numpy.core.multiarray``).
"""

from __future__ import annotations

import io
import json
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from nbf_ros.body.joints import SMPL24_PARENTS
from tests.body.smpl_fixture import REST_JOINTS

# SPIN's 24 annotated joints in order (Kolotouros et al. 2019; EFT's eft/cores/constants.py).
SPIN_GT_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist", "neck_lsp", "head_top_lsp", "pelvis_mpii", "thorax_mpii", "spine_h36m",
    "jaw_h36m", "head_h36m", "nose", "left_eye", "right_eye", "left_ear", "right_ear",
)


def posed_joints(rest: np.ndarray, rotations: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """SMPL's joint positions [24, 3] for local rotations [24, 3, 3] and smplx ``transl``."""
    world_rot = np.empty((24, 3, 3))
    joints = np.empty((24, 3))
    for j, parent in enumerate(SMPL24_PARENTS):
        if parent < 0:
            world_rot[j], joints[j] = rotations[j], rest[j]  # the root turns about J0
        else:
            world_rot[j] = world_rot[parent] @ rotations[j]
            joints[j] = joints[parent] + world_rot[parent] @ (rest[j] - rest[parent])
    return joints + transl


class _Python2Pickler(pickle._Pickler):
    """Pickler that writes strings and bytes as Python 2 ``str`` opcodes."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = _save_py2_str
    dispatch[bytes] = _save_py2_str


def write_python2_pickle(path: Path, obj: Any) -> Path:
    """Write ``obj`` as a Python 2 / numpy 1 program would have pickled it."""
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    raw = buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


@dataclass
class ThreeDPWTruth:
    """The known state a stand-in sequence was made from."""

    name: str
    K: np.ndarray  # [3, 3]
    cam_rot: np.ndarray  # [N, 3, 3] world -> camera
    cam_t: np.ndarray  # [N, 3]
    rotvecs: np.ndarray  # [A, N, 24, 3]
    trans: np.ndarray  # [A, N, 3] smplx transl, world
    world_joints: np.ndarray  # [A, N, 24, 3]
    poses2d: np.ndarray  # [A, N, 3, 18] as stored
    valid: np.ndarray  # [A, N] bool
    betas: np.ndarray  # [A, 10]
    rest_joints: np.ndarray  # [24, 3] the toy skeleton's rest joints; [0] is the rest pelvis


def make_3dpw_sequence(
    name: str, actors: int = 2, frames: int = 3, seed: int = 0
) -> tuple[dict[str, Any], ThreeDPWTruth]:
    """A 3DPW sequence dict with every documented key, and the state it encodes."""
    rng = np.random.default_rng(seed)
    rotvecs = rng.normal(0.0, 0.3, (actors, frames, 24, 3))
    trans = rng.normal(0.0, 0.5, (actors, frames, 3)) + np.array([0.0, 0.0, 1.0])
    world_joints = np.empty((actors, frames, 24, 3))
    for a in range(actors):
        for f in range(frames):
            rotations = Rotation.from_rotvec(rotvecs[a, f]).as_matrix()
            world_joints[a, f] = posed_joints(REST_JOINTS, rotations, trans[a, f])
    # Cameras about 5 m in front of the actors, looking roughly along world +z.
    cam_rot = Rotation.from_rotvec(rng.normal(0.0, 0.2, (frames, 3))).as_matrix()
    cam_t = np.array([0.1, 0.2, 5.0]) + rng.normal(0.0, 0.1, (frames, 3))
    cam_poses = np.tile(np.eye(4), (frames, 1, 1))
    cam_poses[:, :3, :3], cam_poses[:, :3, 3] = cam_rot, cam_t
    K = np.array([[1961.0, 0.0, 540.0], [0.0, 1969.0, 960.0], [0.0, 0.0, 1.0]])
    poses2d = np.stack([  # x, y in the image, confidence in (0.2, 1)
        rng.uniform(100.0, 900.0, (actors, frames, 18)),
        rng.uniform(100.0, 1800.0, (actors, frames, 18)),
        rng.uniform(0.2, 1.0, (actors, frames, 18)),
    ], axis=2)
    poses2d[0, 1] = 0.0  # actor 0 has no detection in frame 1 (fewer than 6 joints found)
    valid = np.ones((actors, frames), dtype=bool)
    valid[-1, 0] = False
    betas = rng.normal(0.0, 1.0, (actors, 10))
    data = {
        "sequence": name,
        "betas": [betas[a] for a in range(actors)],
        "betas_clothed": [betas[a] + 0.1 for a in range(actors)],
        "v_template_clothed": [np.zeros((6, 3)) for _ in range(actors)],
        "poses": [rotvecs[a].reshape(frames, 72) for a in range(actors)],
        "trans": [trans[a] for a in range(actors)],
        "poses_60Hz": [np.repeat(rotvecs[a].reshape(frames, 72), 2, 0) for a in range(actors)],
        "trans_60Hz": [np.repeat(trans[a], 2, 0) for a in range(actors)],
        "poses2d": [poses2d[a] for a in range(actors)],
        "jointPositions": [world_joints[a].reshape(frames, 72) for a in range(actors)],
        "cam_poses": cam_poses,
        "cam_intrinsics": K,
        "img_frame_ids": np.arange(frames) * 2,
        "campose_valid": [valid[a] for a in range(actors)],
        "genders": ["m", "f"][:actors] + ["m"] * max(0, actors - 2),
        "texture_maps": [np.zeros((2, 2, 3), dtype=np.uint8) for _ in range(actors)],
    }
    truth = ThreeDPWTruth(name, K, cam_rot, cam_t, rotvecs, trans, world_joints, poses2d,
                          valid, betas, REST_JOINTS.copy())
    return data, truth


def write_3dpw_sequence(
    root: Path, split: str, name: str, actors: int = 2, frames: int = 3, seed: int = 0
) -> ThreeDPWTruth:
    """Write ``<root>/sequenceFiles/<split>/<name>.pkl`` and return its known state."""
    data, truth = make_3dpw_sequence(name, actors, frames, seed)
    write_python2_pickle(root / "sequenceFiles" / split / f"{name}.pkl", data)
    return truth


def eft_entry(
    image_name: str = "COCO_train2014_000000000036.jpg",
    annot_id: int = 1234,
    cam: tuple[float, float, float] = (0.9, 0.05, -0.1),
    center: tuple[float, float] = (320.0, 240.0),
    scale: float = 1.5,
    keypoints: np.ndarray | None = None,
) -> dict[str, Any]:
    """One EFT "data" entry with identity rotations, zero betas and the given camera and box."""
    if keypoints is None:
        keypoints = np.zeros((49, 3))
        keypoints[25:, :2] = np.array(center) + np.linspace(-80.0, 80.0, 48).reshape(24, 2)
        keypoints[25:, 2] = 1.0
    return {
        "parm_pose": np.tile(np.eye(3), (24, 1, 1)).tolist(),
        "parm_shape": [0.0] * 10,
        "parm_cam": list(cam),
        "bbox_scale": scale,
        "bbox_center": list(center),
        "gt_keypoint_2d": np.asarray(keypoints).tolist(),
        "joint_validity_openpose18": [1.0] * 18,
        "smpltype": "smpl",
        "annotId": annot_id,
        "imageName": image_name,
    }


def write_eft_json(path: Path, entries: list[dict[str, Any]], dbname: str = "COCO2014-All") -> Path:
    """Write an EFT fit file: {"ver", "data", "meta"} as facebookresearch/eft exports it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"ver": 0.1, "data": entries,
                                "meta": {"dbname": dbname, "rawname": "standin"}}))
    return path
