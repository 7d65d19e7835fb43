"""The benchmark's estimators give the 12 common joints of one person per image."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from nbf_ros.eval.occlusion import pose_errors


@pytest.fixture(scope="module")
def person():  # noqa: ANN201 - a synth Scene
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.scenes import SceneConfig, render_scene

    cfg = SceneConfig(height=224, width=224, extra_people=0, occluder_probability=0.0,
                      subject_height=(0.8, 0.9), activity=(0.2, 0.3))
    return render_scene(BodyMesh.default(), 77, cfg)


def test_pipeline_methods_return_common_joints(person) -> None:  # noqa: ANN001
    from nbf_ros.eval.peers import pipeline_methods
    from nbf_ros.fitting.config import FitConfig
    from nbf_ros.pipeline import PipelineConfig, PosePipeline

    pipe = PosePipeline(PipelineConfig(device="cpu", fit=FitConfig(iterations=4,
                                                                   root_iterations=1)))
    for name, method in pipeline_methods(pipe).items():
        out = method([person.image, person.image], person.K, person.people[0].box)
        assert out.shape == (2, 12, 3) and np.isfinite(out).all(), name


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None,
                    reason="mediapipe is an optional extra (pip install -e '.[peers]')")
def test_mediapipe_finds_a_clear_synthetic_person(person) -> None:  # noqa: ANN001
    from nbf_ros.eval.occlusion import common_joints
    from nbf_ros.eval.peers import mediapipe_method

    out = mediapipe_method()([person.image, np.zeros_like(person.image)], person.K,
                             person.people[0].box)
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    # A plausible skeleton: within half a metre per joint after alignment.
    assert pose_errors(out[0], common_joints(person.people[0].joints))[1] < 500
