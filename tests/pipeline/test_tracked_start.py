"""Where a followed person's fit starts when the landmarks read them afresh each frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nbf_ros.body.rotations import rotation_angle
from nbf_ros.fitting.config import FitConfig
from nbf_ros.fitting.state import BodyState
from nbf_ros.pipeline import PipelineConfig, PosePipeline

PHOTO = Path(__file__).resolve().parents[1] / "data" / "basketball1_person.png"
PERSON_BOX = np.array([[14.5, 21.0, 87.0, 219.0]])  # by eye
K = np.array([[240.0, 0.0, 50.0], [0.0, 240.0, 120.0], [0.0, 0.0, 1.0]])


def turned_away(state: BodyState) -> BodyState:
    """The state with its root turned half round about the camera's vertical axis."""
    half = torch.diag(torch.tensor([-1.0, 1.0, -1.0]))
    rot = state.rotations.clone()
    rot[:, 0] = half @ rot[:, 0]
    return BodyState(rot, state.translation, state.shape)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A man facing the camera (tests/data/basketball1_person.png), RGB uint8."""
    return np.array(Image.open(PHOTO).convert("RGB"))


@pytest.mark.parametrize(("start", "follows_the_photo"), [("frame", True), ("previous", False)])
def test_a_followed_person_starts_from_this_frames_reading_or_the_last_pose_as_set(
        photo: np.ndarray, start: str, follows_the_photo: bool) -> None:
    pipe = PosePipeline(PipelineConfig(device="cpu", tracked_start=start,
                                       fit=FitConfig(iterations=10, root_iterations=2),
                                       tracking_fit=FitConfig.tracking(iterations=3)))
    (cold,) = pipe.estimate(photo, K, boxes=PERSON_BOX)
    away = turned_away(pipe.last_states.index([0]))
    (warm,) = pipe.estimate(photo, K, boxes=PERSON_BOX, warm_starts=[away])
    turn = rotation_angle(torch.as_tensor(warm.root_rotation @ cold.root_rotation.T))
    # From this frame's reading the person faces the camera again; from the last pose, a
    # few steps cannot turn them round.
    assert (float(turn) < np.radians(45)) == follows_the_photo


def test_an_unknown_tracked_start_is_refused() -> None:
    with pytest.raises(ValueError, match="tracked_start"):
        PipelineConfig(tracked_start="regression")
