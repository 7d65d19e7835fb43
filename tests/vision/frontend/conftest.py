"""Fixtures of the front-end tests: the landmark model and a real photograph of a person."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nbf_ros.paths import find_model_file
from nbf_ros.vision.frontend.build import LANDMARK_MODEL
from nbf_ros.vision.frontend.landmarks import LandmarkModel

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="package")
def landmark_model() -> LandmarkModel:
    """BlazePose's landmark model (models/)."""
    return LandmarkModel(find_model_file(LANDMARK_MODEL), threads=2)


@pytest.fixture(scope="package")
def person() -> np.ndarray:
    """tests/data/basketball1_person.png (a man facing the camera) as RGB uint8."""
    return np.array(Image.open(DATA / "basketball1_person.png").convert("RGB"))
