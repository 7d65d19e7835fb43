"""Estimators the occlusion benchmark compares against: this project's regression head and
fits (from one PosePipeline), and MediaPipe BlazePose GHUM (optional extra `peers`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nbf_ros.eval.occlusion import COMMON_JOINTS, Method, common_joints
from nbf_ros.pipeline import PosePipeline

__all__ = ["MEDIAPIPE_INDEX", "mediapipe_method", "pipeline_methods"]

# MediaPipe Pose landmark index of each of COMMON_JOINTS (its 33-landmark topology).
MEDIAPIPE_INDEX = {"left_shoulder": 11, "right_shoulder": 12, "left_elbow": 13,
                   "right_elbow": 14, "left_wrist": 15, "right_wrist": 16, "left_hip": 23,
                   "right_hip": 24, "left_knee": 25, "right_knee": 26, "left_ankle": 27,
                   "right_ankle": 28}


def pipeline_methods(pipeline: PosePipeline) -> dict[str, Method]:
    """The network's regression head, NBV fitting without and with the occlusion model."""
    def regression(images: Sequence[np.ndarray], K: np.ndarray, box: np.ndarray) -> np.ndarray:
        read = pipeline.readout(images, K, box)
        return common_joints(read.regression_joints.cpu().numpy())

    def fit(robust: bool) -> Method:
        def run(images: Sequence[np.ndarray], K: np.ndarray, box: np.ndarray) -> np.ndarray:
            result = pipeline.refine(pipeline.readout(images, K, box), robust=robust)
            return common_joints(result.joints.detach().cpu().numpy())
        return run

    return {"regression head": regression, "fit without occlusion model": fit(False),
            "full fit": fit(True)}


def mediapipe_method() -> Method:
    """MediaPipe BlazePose GHUM (model_complexity 1, the one its wheel ships), world
    landmarks in metres; ImportError when the `peers` extra is not installed."""
    import mediapipe as mp  # noqa: F401 - the error names the missing extra early
    from mediapipe.python.solutions import pose as mp_pose

    estimator = mp_pose.Pose(static_image_mode=True, model_complexity=1,
                             enable_segmentation=False)
    order = [MEDIAPIPE_INDEX[name] for name in COMMON_JOINTS]

    def run(images: Sequence[np.ndarray], K: np.ndarray, box: np.ndarray) -> np.ndarray:
        out = np.full((len(images), len(COMMON_JOINTS), 3), np.nan)
        for i, image in enumerate(images):
            found = estimator.process(np.ascontiguousarray(image)).pose_world_landmarks
            if found is not None:
                marks = found.landmark
                out[i] = [(marks[j].x, marks[j].y, marks[j].z) for j in order]
        return out

    return run
