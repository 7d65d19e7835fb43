"""Named 2D keypoint sets of the supported formats and the maps between them.

Orders (checked against the sources cited in ``threedpw.py`` and ``eft.py``):

* OpenPose COCO-18 (3DPW ``poses2d``): OpenPose's "COCO" output, nose and neck first, right
  side before left.
* SPIN-49 (EFT ``gt_keypoint_2d``): SPIN's joint superset (Kolotouros et al., ICCV 2019):
  25 OpenPose BODY_25 detections, then 24 ground-truth joints gathered from LSP, MPII, H36M
  and COCO annotations.
* COCO-17: the COCO keypoint challenge order.
"""

from __future__ import annotations

import types
from collections.abc import Mapping

__all__ = [
    "COCO17_NAMES",
    "OPENPOSE18_NAMES",
    "SPIN49_NAMES",
    "SPIN49_TO_COCO17",
]

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)

OPENPOSE18_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
)

# Prefix "op_" marks the 25 OpenPose detections, "gt_" the 24 annotated joints.
SPIN49_NAMES: tuple[str, ...] = (
    "op_nose", "op_neck", "op_right_shoulder", "op_right_elbow", "op_right_wrist",
    "op_left_shoulder", "op_left_elbow", "op_left_wrist", "op_mid_hip", "op_right_hip",
    "op_right_knee", "op_right_ankle", "op_left_hip", "op_left_knee", "op_left_ankle",
    "op_right_eye", "op_left_eye", "op_right_ear", "op_left_ear", "op_left_big_toe",
    "op_left_small_toe", "op_left_heel", "op_right_big_toe", "op_right_small_toe",
    "op_right_heel",
    "gt_right_ankle", "gt_right_knee", "gt_right_hip", "gt_left_hip", "gt_left_knee",
    "gt_left_ankle", "gt_right_wrist", "gt_right_elbow", "gt_right_shoulder",
    "gt_left_shoulder", "gt_left_elbow", "gt_left_wrist", "gt_neck_lsp", "gt_head_top_lsp",
    "gt_pelvis_mpii", "gt_thorax_mpii", "gt_spine_h36m", "gt_jaw_h36m", "gt_head_h36m",
    "gt_nose", "gt_left_eye", "gt_right_eye", "gt_left_ear", "gt_right_ear",
)

# COCO-17 name -> SPIN-49 row of EFT's gt_keypoint_2d. Only the annotated ("gt_") joints are
# used: they are the dataset's own labels, which EFT fitted; the OpenPose half is a detector's
# output. Written out so the indices can be read against SPIN's list (tests check the names).
SPIN49_TO_COCO17: Mapping[str, int] = types.MappingProxyType({
    "nose": 44, "left_eye": 45, "right_eye": 46, "left_ear": 47, "right_ear": 48,
    "left_shoulder": 34, "right_shoulder": 33, "left_elbow": 35, "right_elbow": 32,
    "left_wrist": 36, "right_wrist": 31, "left_hip": 28, "right_hip": 27,
    "left_knee": 29, "right_knee": 26, "left_ankle": 30, "right_ankle": 25,
})
