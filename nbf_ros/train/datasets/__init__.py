"""Loaders for published real-data formats (3DPW, EFT) as plain map-style datasets.

Each loader reads annotations only and returns ``PersonAnnotation`` records in the camera
frame (see ``record.py`` for the conventions). They do not depend on torch.utils.data;
batching them needs a collate function that picks the fields a model uses. ``load_image``
reads an image when needed.
The data themselves are licensed by their authors and never shipped with this package.
"""

from __future__ import annotations

from nbf_ros.train.datasets.eft import EFT, load_eft
from nbf_ros.train.datasets.images import keypoint_box, load_image
from nbf_ros.train.datasets.keypoints import (
    COCO17_NAMES,
    OPENPOSE18_NAMES,
    SPIN49_NAMES,
    SPIN49_TO_COCO17,
)
from nbf_ros.train.datasets.record import DatasetFormatError, PersonAnnotation
from nbf_ros.train.datasets.threedpw import ThreeDPW, load_3dpw

__all__ = [
    "COCO17_NAMES",
    "EFT",
    "OPENPOSE18_NAMES",
    "SPIN49_NAMES",
    "SPIN49_TO_COCO17",
    "DatasetFormatError",
    "PersonAnnotation",
    "ThreeDPW",
    "keypoint_box",
    "load_3dpw",
    "load_eft",
    "load_image",
]
