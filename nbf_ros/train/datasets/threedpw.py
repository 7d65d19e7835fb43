"""3DPW (von Marcard et al., ECCV 2018) annotations as camera-frame ``PersonAnnotation``s.

Layout: ``<root>/sequenceFiles/{train,validation,test}/<sequence>.pkl`` and
``<root>/imageFiles/<sequence>/image_%05d.jpg``. The loader reads the pickles only; image
paths are formed, not opened.

Format facts used here and where they were checked:

* The dataset's readme (shipped with the download; a copy is in open-mmlab/mmhuman3d forks,
  e.g. zhyjiang/mmhuman3d ``tools/depth_generate/readme.txt``): one dict per sequence with
  ``sequence``, ``betas`` (per actor, 10 SMPL coefficients), ``poses`` (per actor [N, 72] SMPL
  axis-angle, aligned with the image frames at 30 Hz), ``trans`` (per actor [N, 3]),
  ``poses_60Hz``/``trans_60Hz``, ``betas_clothed``, ``v_template_clothed``, ``texture_maps``,
  ``poses2D`` ("Coco-Format" detections), ``jointPositions`` (per actor [N, 72]: the 24 SMPL
  joints), ``img_frame_ids``, ``cam_poses`` ([N, 4, 4] rigid extrinsics), ``campose_valid``
  (per actor boolean [N]) and ``cam_intrinsics`` (K = [f_x 0 c_x; 0 f_y c_y; 0 0 1]); one or
  two actors per sequence.
* Preprocessing by SPIN (nkolot/SPIN ``datasets/preprocess/pw3d.py``) and VIBE
  (mkocabas/VIBE ``lib/data_utils/threedpw_utils.py``): pickles load with
  ``encoding='latin1'``; the keys are spelled ``genders`` ('m'/'f') and ``poses2d`` (the
  readme says ``gender``, ``poses2D``); ``poses2d[actor]`` is [N, 3, 18] (rows x, y,
  confidence; both transpose it to [N, 18, 3]); frame i's image is ``image_{i:05d}.jpg``;
  ``cam_poses[i][:3, :3]`` left-multiplies the SMPL root rotation to express it in the
  camera, i.e. ``cam_poses`` maps world to camera; only ``betas[actor][:10]`` is used.
* The 18 detections follow OpenPose's COCO-18 order (nose, neck, right arm, left arm, right
  leg, left leg, eyes, ears); VIBE's ``kp_utils.get_3dpw_joint_names`` lists the same first 14.

Conventions of the output (see ``record.py``): ``pose[0]`` is ``R_cam @ R_root``;
``joints_cam`` is ``jointPositions`` moved by the camera pose; ``translation`` is its joint 0
(the pelvis), so it needs no body model; ``smpl_transl`` stays None (it needs the rest pelvis
of the actor's shape, see ``PersonAnnotation.with_rest_pelvis``). The box surrounds the
detections above ``min_confidence``; frames without 2 of them get the box of the projected 3D
joints. Security: the pickles are read with ``safe_pickle.read_array_pickle``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nbf_ros.body.rotations import axis_angle_to_matrix
from nbf_ros.train.datasets.images import keypoint_box
from nbf_ros.train.datasets.keypoints import OPENPOSE18_NAMES
from nbf_ros.train.datasets.record import DatasetFormatError, PersonAnnotation
from nbf_ros.train.datasets.safe_pickle import read_array_pickle

__all__ = ["SPLITS", "ThreeDPW", "load_3dpw"]

SPLITS: tuple[str, ...] = ("train", "validation", "test")

_GENDERS = {"m": "male", "f": "female", "male": "male", "female": "female"}


@dataclass
class _Actor:
    """One actor's arrays over all N frames of a sequence."""

    poses: np.ndarray  # [N, 24, 3] axis-angle
    betas: np.ndarray  # [10]
    gender: str
    trans: np.ndarray  # [N, 3] world
    joints: np.ndarray  # [N, 24, 3] world
    keypoints: np.ndarray  # [N, 18, 3]
    valid: np.ndarray  # [N] bool


@dataclass
class _Sequence:
    """One sequence file: camera and actors."""

    name: str
    K: np.ndarray  # [3, 3]
    cam_poses: np.ndarray  # [N, 4, 4] world -> camera
    actors: list[_Actor]


class ThreeDPW(Sequence[PersonAnnotation]):
    """3DPW split as a map-style dataset: one ``PersonAnnotation`` per actor per frame."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "test",
        only_valid: bool = False,
        min_confidence: float = 0.0,
        box_margin: float = 0.1,
    ) -> None:
        """Read every sequence file of ``split`` under ``root`` (images are not opened)."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        self.root = Path(root).expanduser()
        self.split = split
        self.min_confidence = float(min_confidence)
        self.box_margin = float(box_margin)
        self._sequences = [_read_sequence(p) for p in _sequence_files(self.root, split)]
        index = [
            (s, a, f)
            for s, seq in enumerate(self._sequences)
            for a, actor in enumerate(seq.actors)
            for f in range(len(seq.cam_poses))
            if actor.valid[f] or not only_valid
        ]
        self._index = np.asarray(index, dtype=np.int64).reshape(-1, 3)

    @property
    def sequences(self) -> tuple[str, ...]:
        """Names of the loaded sequences, in file-name order."""
        return tuple(s.name for s in self._sequences)

    def __len__(self) -> int:
        """Number of (actor, frame) annotations."""
        return len(self._index)

    def __getitem__(self, i: int) -> PersonAnnotation:  # type: ignore[override]
        """The annotation at position ``i`` (negative positions count from the end)."""
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"ThreeDPW indices must be integers, not {type(i).__name__}")
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} annotations")
        s, a, f = (int(v) for v in self._index[i])
        return self._annotation(self._sequences[s], a, f)

    def _annotation(self, seq: _Sequence, a: int, f: int) -> PersonAnnotation:
        """Build the record of actor ``a`` in frame ``f``."""
        actor = seq.actors[a]
        rot_cam, t_cam = seq.cam_poses[f, :3, :3], seq.cam_poses[f, :3, 3]
        pose = axis_angle_to_matrix(torch.from_numpy(actor.poses[f])).numpy()
        pose[0] = rot_cam @ pose[0]
        joints_cam = actor.joints[f] @ rot_cam.T + t_cam
        keypoints = actor.keypoints[f].copy()
        box = keypoint_box(keypoints, self.min_confidence, self.box_margin)
        if box is None and (joints_cam[:, 2] > 0).all():
            # No detections in this frame: frame the projected ground-truth joints instead.
            projected = joints_cam @ seq.K.T
            box = keypoint_box(projected[:, :2] / projected[:, 2:], margin=self.box_margin)
        return PersonAnnotation(
            dataset="3dpw",
            image_path=self.root / "imageFiles" / seq.name / f"image_{f:05d}.jpg",
            sequence=seq.name,
            person_id=a,
            frame_index=f,
            K=seq.K.copy(),
            intrinsics_known=True,
            pose=pose,
            betas=actor.betas.copy(),
            gender=actor.gender,
            translation=joints_cam[0].copy(),
            smpl_transl=None,
            joints_cam=joints_cam,
            keypoints=keypoints,
            keypoint_names=OPENPOSE18_NAMES,
            box=box,
            valid=bool(actor.valid[f]),
            meta={
                "split": self.split,
                "cam_pose": seq.cam_poses[f].copy(),
                "trans_world": actor.trans[f].copy(),
                "root_world": actor.joints[f, 0].copy(),
            },
        )


def load_3dpw(root: str | os.PathLike[str], split: str = "test", **options: Any) -> ThreeDPW:
    """The 3DPW ``split`` under ``root`` as a map-style dataset (see ``ThreeDPW``)."""
    return ThreeDPW(root, split, **options)


def _sequence_files(root: Path, split: str) -> list[Path]:
    """The sorted .pkl files of a split, or FileNotFoundError saying what was expected."""
    folder = root / "sequenceFiles" / split
    if not folder.is_dir():
        raise FileNotFoundError(
            f"3DPW: expected the folder {folder} (layout <root>/sequenceFiles/{{train,"
            f"validation,test}}/*.pkl and <root>/imageFiles/<sequence>/image_%05d.jpg)"
        )
    files = sorted(folder.glob("*.pkl"))
    if not files:
        raise FileNotFoundError(f"3DPW: no sequence files (*.pkl) in {folder}")
    return files


def _read_sequence(path: Path) -> _Sequence:
    """Read and check one sequence pickle."""
    data = read_array_pickle(path, what="a 3DPW sequence file")
    if not isinstance(data, dict):
        raise DatasetFormatError(f"{path}: expected a pickled dict, found {type(data).__name__}")

    def get(key: str) -> Any:
        if key not in data:
            raise DatasetFormatError(f"{path}: missing key {key!r} of the 3DPW sequence format")
        return data[key]

    name = get("sequence")
    if not isinstance(name, str) or not name:
        raise DatasetFormatError(f"{path}: 'sequence' must be a non-empty string, got {name!r}")
    cam_poses = _array(path, "cam_poses", get("cam_poses"), (-1, 4, 4))
    frames = len(cam_poses)
    K = _array(path, "cam_intrinsics", get("cam_intrinsics"), (3, 3))
    # The files say "genders"; the readme says "gender". Accept either spelling.
    genders = data["gender"] if "genders" not in data and "gender" in data else get("genders")
    per_actor = {
        key: get(key)
        for key in ("poses", "betas", "trans", "jointPositions", "poses2d", "campose_valid")
    }
    count = len(per_actor["poses"])
    for key, value in {**per_actor, "genders": genders}.items():
        if not isinstance(value, (list, tuple, np.ndarray)) or len(value) != count:
            raise DatasetFormatError(
                f"{path}: {key!r} must hold one entry per actor ({count} in 'poses'), got "
                f"{len(value) if hasattr(value, '__len__') else type(value).__name__}"
            )
    actors = [_read_actor(path, per_actor, genders, a, frames) for a in range(count)]
    return _Sequence(name=name, K=K, cam_poses=cam_poses, actors=actors)


def _read_actor(
    path: Path, per_actor: dict[str, Any], genders: Any, a: int, frames: int
) -> _Actor:
    """Check and convert actor ``a``'s arrays, all of ``frames`` frames."""
    def arr(key: str, shape: tuple[int, ...]) -> np.ndarray:
        return _array(path, f"{key}[{a}]", per_actor[key][a], shape)

    betas = np.asarray(per_actor["betas"][a], dtype=np.float64).reshape(-1)
    if betas.size < 10:
        raise DatasetFormatError(f"{path}: 'betas[{a}]' has {betas.size} values, expected 10")
    gender = genders[a]
    if not isinstance(gender, str) or gender.lower() not in _GENDERS:
        raise DatasetFormatError(f"{path}: 'genders[{a}]' is {gender!r}, expected 'm' or 'f'")
    keypoints = arr("poses2d", (frames, 3, 18)).transpose(0, 2, 1)
    valid = np.asarray(per_actor["campose_valid"][a]).reshape(-1)
    if valid.shape != (frames,):
        raise DatasetFormatError(f"{path}: 'campose_valid[{a}]' has shape {valid.shape}, "
                                 f"expected ({frames},) like 'cam_poses'")
    return _Actor(
        poses=arr("poses", (frames, 72)).reshape(frames, 24, 3),
        betas=betas[:10],  # some files keep more coefficients; SMPL's 10 come first
        gender=_GENDERS[gender.lower()],
        trans=arr("trans", (frames, 3)),
        joints=arr("jointPositions", (frames, 72)).reshape(frames, 24, 3),
        keypoints=np.ascontiguousarray(keypoints),
        valid=valid.astype(bool),
    )


def _array(path: Path, key: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as float64 of ``shape`` (-1 = any length), else a DatasetFormatError."""
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DatasetFormatError(f"{path}: {key!r} is not numeric ({exc})") from exc
    if out.ndim != len(shape) or any(s not in (-1, n) for s, n in zip(shape, out.shape,
                                                                       strict=True)):
        want = "(" + ", ".join("N" if s == -1 else str(s) for s in shape) + ")"
        raise DatasetFormatError(f"{path}: {key!r} has shape {out.shape}, expected {want}")
    return out
