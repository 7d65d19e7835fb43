"""Synthetic bags recorded through a lens (issue 32): the frames are distorted, camera_info
carries the lens, and the truth's pixels sit where the lens put them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nbf_ros.io.bag_reader import read_frames
from nbf_ros.io.undistort import Lens, distort_pixels
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import SceneConfig
from nbf_ros.synth.sequences import SequenceConfig, render_sequence, write_sequence_bag

PLUMB_BOB = (-0.3, 0.09, 0.0, 0.0, -0.01)
SCENE = SceneConfig(height=96, width=128, extra_people=0, occluder_probability=0.0,
                    focal=(0.6, 0.7))


def test_a_bag_through_a_lens_carries_it_and_moves_the_truth(mesh: BodyMesh,
                                                             tmp_path: Path) -> None:
    config = SequenceConfig(frames=2, scene=SCENE, distortion=("plumb_bob", PLUMB_BOB))
    write_sequence_bag(tmp_path / "bag", mesh, 5, config, progress=False)
    pinhole = list(render_sequence(mesh, 5, config))
    with read_frames(tmp_path / "bag") as reader:
        frames = list(reader)
    assert len(frames) == 2
    for frame, scene in zip(frames, pinhole, strict=True):
        assert frame.lens is not None and frame.lens.model == "plumb_bob"
        np.testing.assert_allclose(frame.lens.D, PLUMB_BOB)
        # The image is the rendering seen through the lens, not the rendering itself ...
        assert np.abs(frame.rgb.astype(int) - scene.image).mean() > 2.0
        # ... and undistorting it into camera K gives the rendering back (the corners see
        # past the rendering).
        centre = (slice(24, 72), slice(32, 96))
        back = Lens(frame.K, 128, 96, "plumb_bob", frame.lens.D).rectify(frame.rgb)
        assert np.abs(back[centre].astype(int) - scene.image[centre]).mean() < 4.0
        expected = distort_pixels(scene.people[0].keypoints, scene.K, "plumb_bob", PLUMB_BOB)
        np.testing.assert_allclose(frame.truth[0].keypoints_2d, expected, atol=1e-3)
        np.testing.assert_allclose(frame.truth[0].joints, scene.people[0].joints, atol=1e-6)
