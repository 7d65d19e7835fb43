"""Which detector a pipeline asks for, and the front end's model files in models/."""

from __future__ import annotations

import numpy as np

from nbf_ros.paths import find_model_file
from nbf_ros.vision.frontend.front_end import Detector

__all__ = ["DETECTOR_NAMES", "LANDMARK_MODEL", "joined", "nanodet_detector",
           "resolve_detector"]

LANDMARK_MODEL = "pose_landmark_full.tflite"  # MediaPipe BlazePose GHUM full (models/)
PERSON_DETECTOR_MODEL = "person_detector_nanodet_m_416.onnx"  # NanoDet-m (models/)
# auto: with landmarks, NanoDet and the network's own head together (NanoDet finds people in
# real images, the head in renders like its training data, where NanoDet missed people
# behind occluders; the landmark score confirms every box, so neither one's false boxes
# survive); without landmarks, NanoDet alone. Without NanoDet's file, the head alone.
DETECTOR_NAMES = ("auto", "nanodet", "network")


def resolve_detector(name: str, landmarks: bool = True) -> str:
    """The detector ``name`` stands for here: "nanodet", "network" or "both"."""
    if name not in DETECTOR_NAMES:
        raise ValueError(f"detector must be one of {', '.join(DETECTOR_NAMES)}, got {name!r}")
    if name != "auto":
        return name
    try:
        find_model_file(PERSON_DETECTOR_MODEL)
    except FileNotFoundError:
        return "network"
    return "both" if landmarks else "nanodet"


def joined(first: Detector, second: Detector) -> Detector:
    """One detector reporting the boxes of two (duplicates are left to the landmarks)."""
    def detect(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (a, sa), (b, sb) = first(rgb), second(rgb)
        return np.concatenate((a.reshape(-1, 4), b.reshape(-1, 4))), np.concatenate((sa, sb))

    return detect


def nanodet_detector(device: str = "auto") -> Detector:
    """The real-trained NanoDet person detector as a front-end Detector."""
    from nbf_ros.vision.frontend.person_detector import PersonDetector

    found = PersonDetector(model_path=find_model_file(PERSON_DETECTOR_MODEL), device=device)

    def detect(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        people = found.detect(rgb)
        boxes = np.array([[p.x0, p.y0, p.x1, p.y1] for p in people], dtype=np.float64)
        return boxes.reshape(-1, 4), np.array([p.score for p in people], dtype=np.float64)

    return detect
