"""EFT pseudo-ground truth (Joo et al., 3DV 2021) for COCO, MPII and LSPet as annotations.

EFT ("Exemplar Fine-Tuning") ships one json per dataset (``COCO2014-All-ver01.json``,
``COCO2014-Part-ver01.json``, ``MPII_ver01.json``, ``LSPet_ver01.json``); the images come from
the original datasets. Format facts used here and where they were checked
(facebookresearch/eft):

* ``docs/README_dataformat.md`` and ``demo/visEFTFit.py``: top level ``{"ver", "data",
  "meta"}``; each ``data`` entry holds ``parm_pose`` (24x3x3 rotation matrices, root first,
  fed to SMPL as ``global_orient=pose[0]``, ``body_pose=pose[1:]``), ``parm_shape`` (10
  betas), ``parm_cam`` (weak perspective ``[s, tx, ty]``), ``bbox_scale``, ``bbox_center``
  ``[x, y]``, ``joint_validity_openpose18``, ``smpltype``, ``annotId`` (COCO annotation id)
  and ``imageName``; the fits use the gender-neutral SMPL model.
* ``eft/utils/exportDB.py`` (writes the json): ``gt_keypoint_2d`` is the [49, 3] SPIN-format
  keypoint array in original-image pixels; ``imageName`` is stored as a base name;
  ``annotId`` is 0 where the source had none; ``smpltype`` defaults to "smpl"; fits with a
  large keypoint loss or any |beta| > 3 were dropped before export.
* ``eft/cores/constants.py``: the 49 names (25 OpenPose, then 24 annotated joints),
  ``FOCAL_LENGTH = 5000`` and ``IMG_RES = 224``.
* ``eft/utils/imutils.py`` and ``eft/train/eftFitter.py``: the crop is the square of side
  ``200 * bbox_scale`` pixels centred on ``bbox_center``, resized to 224 px (SPIN's
  convention); the fit's 2D model is ``x_norm = s * X[:2] + [tx, ty]`` on SMPL joints ``X``
  evaluated without translation, with ``x_norm`` in [-1, 1] over the crop
  (crop pixel = 112 * (x_norm + 1)). Note the translation is added after the scale, unlike
  SPIN's regressor, whose perspective camera puts [tx, ty] before it.

Camera convention (EFT has no intrinsics; ``intrinsics_known`` is False): a pinhole camera
of focal length 5000 px for the 224 px crop, i.e. ``f = 5000 * 200 * bbox_scale / 224`` px
in the image, principal point at ``bbox_center``; camera frame OpenCV (EFT's SMPL output is
already y-down: it draws X[:, :2] as image coordinates). The body is placed at
``smpl_transl = [tx / s, ty / s, 2 * 5000 / (224 * s)]``. This reproduces EFT's weak
perspective exactly for points at depth 0 of the body and to first order in
(depth / distance) elsewhere; SPIN's 1-pixel crop offsets are ignored. ``translation`` (the
pelvis) stays None: it needs the rest pelvis of the betas (``with_rest_pelvis``).
``joints_cam`` is None: EFT gives no 3D joints. Keypoints are the annotated half of
``gt_keypoint_2d`` mapped to COCO-17 by ``keypoints.SPIN49_TO_COCO17``; the box surrounds the
keypoints with confidence above ``min_confidence``, or is EFT's crop box where fewer than 2.
``valid`` is always True (the export already rejected bad fits).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nbf_ros.train.datasets.images import keypoint_box
from nbf_ros.train.datasets.keypoints import COCO17_NAMES, SPIN49_TO_COCO17
from nbf_ros.train.datasets.record import DatasetFormatError, PersonAnnotation

__all__ = ["EFT", "EFT_CROP_SIZE", "EFT_FOCAL_LENGTH", "load_eft"]

EFT_FOCAL_LENGTH = 5000.0  # px at the crop size; SPIN's and EFT's constant
EFT_CROP_SIZE = 224  # px, side of the network input crop
_BOX_UNIT = 200.0  # px per unit of bbox_scale (SPIN's convention)

_REQUIRED = ("parm_pose", "parm_shape", "parm_cam", "bbox_scale", "bbox_center",
             "gt_keypoint_2d", "imageName")
_COCO_ROWS = np.array([SPIN49_TO_COCO17[name] for name in COCO17_NAMES])


class EFT(Sequence[PersonAnnotation]):
    """An EFT json as a map-style dataset: one ``PersonAnnotation`` per fitted person."""

    def __init__(
        self,
        json_path: str | os.PathLike[str],
        image_root: str | os.PathLike[str],
        min_confidence: float = 0.0,
        box_margin: float = 0.1,
        focal_length: float = EFT_FOCAL_LENGTH,
    ) -> None:
        """Read and check every entry of ``json_path``; images live in ``image_root``."""
        self.json_path = Path(json_path).expanduser()
        self.image_root = Path(image_root).expanduser()
        self.min_confidence = float(min_confidence)
        self.box_margin = float(box_margin)
        self.focal_length = float(focal_length)
        top = _read_json(self.json_path)
        meta = top.get("meta")
        self.dbname = str(meta.get("dbname", self.json_path.stem)) if isinstance(
            meta, dict) else self.json_path.stem
        entries = top["data"]
        # Stacked float32 arrays: the fits were exported from float32 tensors, so nothing is
        # lost, and COCO2014-All (~75k people) stays around 100 MB.
        count = len(entries)
        self._pose = np.empty((count, 24, 3, 3), dtype=np.float32)
        self._betas = np.empty((count, 10), dtype=np.float32)
        self._cam = np.empty((count, 3), dtype=np.float64)
        self._center = np.empty((count, 2), dtype=np.float64)
        self._scale = np.empty(count, dtype=np.float64)
        self._keypoints = np.empty((count, 49, 3), dtype=np.float32)
        self._names: list[str] = []
        self._annot_ids: list[int] = []
        for i, entry in enumerate(entries):
            self._read_entry(i, entry)
        _check_rotations(self.json_path, self._pose)

    def __len__(self) -> int:
        """Number of fitted people."""
        return len(self._names)

    def __getitem__(self, i: int) -> PersonAnnotation:  # type: ignore[override]
        """The annotation of entry ``i`` of the json's "data" list."""
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"EFT indices must be integers, not {type(i).__name__}")
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} annotations")
        i = int(i) % len(self)
        s, tx, ty = self._cam[i]
        cx, cy = self._center[i]
        box_side = _BOX_UNIT * self._scale[i]
        f = self.focal_length * box_side / EFT_CROP_SIZE
        K = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
        smpl_transl = np.array([tx / s, ty / s, 2.0 * self.focal_length / (EFT_CROP_SIZE * s)])
        spin49 = self._keypoints[i].astype(np.float64)
        keypoints = spin49[_COCO_ROWS]
        box = keypoint_box(keypoints, self.min_confidence, self.box_margin)
        if box is None:
            box = np.array([cx, cy, cx, cy]) + 0.5 * box_side * np.array([-1.0, -1.0, 1.0, 1.0])
        name = self._names[i]
        return PersonAnnotation(
            dataset="eft",
            image_path=self.image_root / name,
            sequence=Path(name).stem,
            person_id=self._annot_ids[i],
            frame_index=i,
            K=K,
            intrinsics_known=False,
            pose=self._pose[i].astype(np.float64),
            betas=self._betas[i].astype(np.float64),
            gender="neutral",
            translation=None,
            smpl_transl=smpl_transl,
            joints_cam=None,
            keypoints=keypoints,
            keypoint_names=COCO17_NAMES,
            box=box,
            valid=True,
            meta={
                "dbname": self.dbname,
                "imageName": name,
                "annotId": self._annot_ids[i],
                "parm_cam": self._cam[i].copy(),
                "bbox_center": self._center[i].copy(),
                "bbox_scale": float(self._scale[i]),
                "keypoints_spin49": spin49,
            },
        )

    def _read_entry(self, i: int, entry: Any) -> None:
        """Check entry ``i`` and store its values in row ``i`` of the stacked arrays."""
        where = f"{self.json_path}: data[{i}]"
        if not isinstance(entry, dict):
            raise DatasetFormatError(f"{where} is a {type(entry).__name__}, expected an object")
        for key in _REQUIRED:
            if key not in entry:
                raise DatasetFormatError(f"{where}: missing key {key!r} of the EFT format")
        smpltype = entry.get("smpltype", "smpl")
        if smpltype != "smpl":
            raise DatasetFormatError(f"{where}: smpltype {smpltype!r}; only SMPL fits "
                                     "(smpltype 'smpl') are supported")
        self._pose[i] = _numbers(where, "parm_pose", entry["parm_pose"], (24, 3, 3))
        self._betas[i] = _numbers(where, "parm_shape", entry["parm_shape"], (10,))
        self._cam[i] = _numbers(where, "parm_cam", entry["parm_cam"], (3,))
        self._center[i] = _numbers(where, "bbox_center", entry["bbox_center"], (2,))
        self._scale[i] = _numbers(where, "bbox_scale", entry["bbox_scale"], ())
        self._keypoints[i] = _numbers(where, "gt_keypoint_2d", entry["gt_keypoint_2d"], (49, 3))
        for key, value in (("parm_cam[0] (scale)", self._cam[i, 0]),
                           ("bbox_scale", self._scale[i])):
            if not (math.isfinite(value) and value > 0):
                raise DatasetFormatError(f"{where}: {key} is {value}, expected > 0")
        name = entry["imageName"]
        if not isinstance(name, str) or not name:
            raise DatasetFormatError(f"{where}: 'imageName' must be a non-empty string")
        annot_id = entry.get("annotId", 0)
        if not isinstance(annot_id, int):
            raise DatasetFormatError(f"{where}: 'annotId' is {annot_id!r}, expected an integer")
        self._names.append(name)
        self._annot_ids.append(annot_id)


def load_eft(
    json_path: str | os.PathLike[str], image_root: str | os.PathLike[str], **options: Any
) -> EFT:
    """An EFT json (e.g. COCO2014-All-ver01.json) as a map-style dataset (see ``EFT``)."""
    return EFT(json_path, image_root, **options)


def _read_json(path: Path) -> dict[str, Any]:
    """The top-level object of an EFT json, checked to hold a "data" list."""
    if not path.is_file():
        raise FileNotFoundError(f"EFT: fit file {path} does not exist (expected e.g. "
                                "COCO2014-All-ver01.json from facebookresearch/eft)")
    try:
        with open(path, encoding="utf-8") as f:
            top = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(top, dict) or "data" not in top:
        raise DatasetFormatError(f"{path}: missing key 'data'; an EFT file is an object "
                                 "{'ver', 'data': [...], 'meta'}")
    if not isinstance(top["data"], list):
        raise DatasetFormatError(f"{path}: 'data' must be a list of fits, "
                                 f"got {type(top['data']).__name__}")
    return top


def _numbers(where: str, key: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a float64 array of ``shape``, else a DatasetFormatError naming it."""
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DatasetFormatError(f"{where}: {key!r} is not a numeric array ({exc})") from exc
    if out.shape != shape:
        raise DatasetFormatError(f"{where}: {key!r} has shape {out.shape}, expected {shape}")
    if not np.isfinite(out).all():
        raise DatasetFormatError(f"{where}: {key!r} holds NaN or infinite values")
    return out


def _check_rotations(path: Path, pose: np.ndarray) -> None:
    """Raise unless every parm_pose matrix is a rotation (orthonormal, det +1)."""
    if not len(pose):
        return
    rot = pose.astype(np.float64)
    error = np.abs(rot.swapaxes(-1, -2) @ rot - np.eye(3)).max((-1, -2))
    error = np.maximum(error, np.abs(np.linalg.det(rot) - 1.0))
    bad = np.argwhere(error > 1e-3)
    if len(bad):
        i, j = bad[0]
        raise DatasetFormatError(f"{path}: data[{i}]: 'parm_pose'[{j}] is not a rotation matrix "
                                 f"(error {error[i, j]:.3g}); {len(bad)} such matrices")
