"""Real-trained front end: person detection (NanoDet-m, ONNX Runtime)."""

from nbf_ros.vision.frontend.person_detector import (
    DetectorConfig,
    PersonBox,
    PersonDetector,
)

__all__ = ["DetectorConfig", "PersonBox", "PersonDetector"]
