"""A frame from a distorting lens (issue 32): fitted through its undistorted image, the joints
lie on the rays the camera saw them along; fitted as if it were a pinhole image, they do not."""

from __future__ import annotations

import numpy as np

from nbf_ros.fitting.config import FitConfig
from nbf_ros.pipeline import PipelineConfig, PosePipeline
from nbf_ros.synth.dataset import truth_estimates
from nbf_ros.synth.lens import DistortingCamera
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import SceneConfig, render_scene

# A wide-angle webcam (horizontal field of view about 70 degrees) with barrel distortion.
PLUMB_BOB = (-0.32, 0.11, 0.0, 0.0, -0.015)


def ray_angles(joints: np.ndarray, truth: np.ndarray) -> np.ndarray:  # [J] degrees
    """Angle between each fitted joint's and its true position's rays from the camera."""
    cos = (joints * truth).sum(1) / np.linalg.norm(joints, axis=1) / np.linalg.norm(truth, axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def test_undistortion_puts_the_fitted_joints_on_the_rays_the_camera_saw() -> None:
    mesh = BodyMesh.default()
    cfg = SceneConfig(height=240, width=320, extra_people=0, occluder_probability=0.0,
                      subject_height=(0.55, 0.65), focal=(0.7, 0.75), centre_jitter=0.3)
    scene = render_scene(mesh, 137, cfg)  # a person in the upper right, 95 px off centre
    camera = DistortingCamera(scene.K, 320, 240, "plumb_bob", PLUMB_BOB)
    raw = camera.image(scene.image)
    (truth,) = camera.truth(truth_estimates(scene, mesh))
    pipeline = PosePipeline(PipelineConfig(device="cpu", fit=FitConfig(
        iterations=30, root_iterations=5, hypotheses=1)))

    (pinhole,) = pipeline.estimate(raw, scene.K, boxes=truth.roi[None])
    (undistorted,) = pipeline.estimate(camera.lens.rectify(raw), scene.K,
                                       boxes=scene.people[0].box[None])
    camera.lens.to_raw([undistorted])

    without = ray_angles(pinhole.joints, truth.joints).mean()
    with_lens = ray_angles(undistorted.joints, truth.joints).mean()
    assert with_lens < 0.8 * without, (with_lens, without)
    # Both fits still match the raw image's keypoints: the pinhole fit bends the body to the
    # distorted image instead of seeing it from the right direction.
    for human in (pinhole, undistorted):
        assert np.median(np.linalg.norm(human.keypoints_2d - truth.keypoints_2d, axis=1)) < 5
