"""The compiled fitting step is compiled on configure (issue 32 item 7): one person of a
dummy frame is fitted cold and then warm through the frame path, so that the first real
frame does not wait for the compiler."""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters

from nbf_ros.fit_warmup import warm_up_fit
from nbf_ros.node_settings import build_pipeline, default_settings
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import SceneConfig, render_scene


def _pipeline(**settings: object):  # noqa: ANN202 - (PosePipeline, Tracker)
    return build_pipeline(dict(default_settings(), device="cpu", **settings))


def test_an_eager_step_has_nothing_to_warm_up() -> None:
    pipeline, _ = _pipeline()  # a CPU's default: the eager step
    assert warm_up_fit(pipeline) == 0
    assert pipeline.timing == {}  # no frame ran


def test_the_warm_up_fits_cold_then_warm_and_leaves_no_person_behind() -> None:
    # torch's own switch that runs compiled functions eagerly: the fit path with the
    # compiled flag on (padding, the compiled objective's wrapper), without the compiler.
    pipeline, _ = _pipeline(fit_compile=True)
    with torch._dynamo.config.patch(disable=True):
        assert warm_up_fit(pipeline) == 2
    assert pipeline.last_states is None and pipeline.timing == {}


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="compiling the step takes 40-60 s of CPU time on the 2-core CI "
                    "machine (2026-12-07), over a unit test's budget; runs where CUDA is")
def test_after_the_warm_up_a_real_persons_frames_compile_nothing() -> None:
    pipeline, tracker = build_pipeline(dict(default_settings(), device="cuda",
                                            fit_compile=True))
    warm_up_fit(pipeline)
    compiled = counters["stats"]["unique_graphs"]
    scene = render_scene(BodyMesh.default(), 5, SceneConfig(
        height=480, width=640, extra_person_probability=0.0, occluder_probability=0.0))
    for now in (0.0, 0.1):  # a new person (cold fit), then tracked (warm fit)
        assert len(pipeline.track(scene.image, scene.K, tracker, now)) == 1
    assert counters["stats"]["unique_graphs"] == compiled
