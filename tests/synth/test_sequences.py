"""Synthetic video bags: frames, stamps and ground truth of a short sequence, read back with
the bag reader."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from nbf_ros.io.bag_reader import BagFrame, read_frames
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import SceneConfig
from nbf_ros.synth.sequences import SequenceConfig, render_sequence, write_sequence_bag

FRAMES, FPS, SEED = 8, 15.0, 3
START_NS = 1_700_000_000_000_000_000
# Two people and occluders, small images. 8 frames at 15 fps cover a good part of the way to
# the first key pose after the start (one every 1.5 s), close to the fastest motion.
CONFIG = SequenceConfig(frames=FRAMES, fps=FPS, scene=SceneConfig(
    height=96, width=128, subject_height=(0.45, 0.7), extra_people=1,
    extra_person_probability=1.0, extra_depth=(0.0, 2.5), occluder_probability=1.0,
    focal=(0.9, 1.3)))


@pytest.fixture(scope="module")
def bag(mesh: BodyMesh, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The sequence's bag and the frame count write_sequence_bag returned."""
    path = tmp_path_factory.mktemp("sequence") / "bag"
    written = write_sequence_bag(path, mesh, SEED, CONFIG, start_ns=START_NS, progress=False)
    return path, written


@pytest.fixture(scope="module")
def frames(bag: tuple[Path, int]) -> list[BagFrame]:
    """Every frame of the bag."""
    with read_frames(bag[0]) as reader:
        return list(reader)


def test_the_bag_holds_every_frame_at_the_scene_size(bag: tuple[Path, int],
                                                     frames: list[BagFrame]) -> None:
    assert bag[1] == FRAMES
    assert len(frames) == FRAMES
    for frame in frames:
        assert frame.rgb.shape == (96, 128, 3) and frame.rgb.dtype == np.uint8
        assert (frame.width, frame.height) == (128, 96)
        np.testing.assert_array_equal(frame.K, frames[0].K)


def test_stamps_are_spaced_one_frame_period_apart(frames: list[BagFrame]) -> None:
    stamps = np.array([frame.stamp_ns for frame in frames])
    assert stamps[0] == START_NS
    assert (np.diff(stamps) == round(1e9 / FPS)).all()


def test_every_frame_has_the_truth_of_the_same_people(frames: list[BagFrame]) -> None:
    for frame in frames:
        assert frame.truth is not None
        assert [person.track_id for person in frame.truth] == [1, 2]


def test_joints_move_smoothly(frames: list[BagFrame]) -> None:
    joints = np.stack([[person.joints for person in frame.truth] for frame in frames])
    step = np.linalg.norm(np.diff(joints, axis=0), axis=-1)  # [T - 1, P, J] metres per frame
    assert step.max() < 0.15
    assert step.max() > 0.005  # they do move
    # No jumps: the largest step is not far above its neighbours'.
    assert (np.abs(np.diff(step, axis=0)) < 0.05).all()


def test_the_bag_holds_the_rendered_frames(mesh: BodyMesh, frames: list[BagFrame]) -> None:
    # A shorter sequence of the same seed starts with the same frame.
    first = list(render_sequence(mesh, SEED, dataclasses.replace(CONFIG, frames=1)))
    assert len(first) == 1
    for scene, frame in zip(first, frames, strict=False):
        np.testing.assert_array_equal(frame.rgb, scene.image)
        np.testing.assert_allclose(frame.K, scene.K, rtol=1e-6)
        assert frame.truth is not None
        for person, truth in zip(scene.people, frame.truth, strict=True):
            np.testing.assert_allclose(truth.joints, person.joints, atol=1e-6)
            np.testing.assert_allclose(truth.keypoints_2d, person.keypoints, atol=1e-3)


def test_a_sequence_needs_a_frame_and_a_positive_rate() -> None:
    for bad in ({"frames": 0}, {"fps": 0.0}, {"seconds_per_key_pose": -1.0}):
        with pytest.raises(ValueError):
            SequenceConfig(**bad)
