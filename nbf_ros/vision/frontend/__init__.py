"""The real-trained front end: people found by a detector (NanoDet, or the feature network's
own head), read by BlazePose's landmark model, followed by their landmarks, and turned into
evidence for the fit (doc/frontend.md)."""

from nbf_ros.vision.frontend.front_end import FrontEnd, FrontEndConfig, FrontEndPeople
from nbf_ros.vision.frontend.landmarks import LandmarkModel, PersonLandmarks
from nbf_ros.vision.frontend.person_detector import DetectorConfig, PersonBox, PersonDetector

__all__ = ["DetectorConfig", "FrontEnd", "FrontEndConfig", "FrontEndPeople", "LandmarkModel",
           "PersonBox", "PersonDetector", "PersonLandmarks"]
