"""Compile the fitting step before the first frame: a compiled step compiles on its first
call for each padded people count and kernel window (tens of seconds on a GPU, a minute or
more on a small CPU), so without a warm-up the node's first frame with a person would wait
that long. The node runs this on configure.
"""

from __future__ import annotations

import numpy as np

from nbf_ros.pipeline import PosePipeline

__all__ = ["WARM_UP_SEED", "WARM_UP_SIZE", "warm_up_fit"]

WARM_UP_SIZE = (320, 240)  # width, height of the dummy frame
WARM_UP_SEED = 0  # the synthetic scene drawn for it


def warm_up_fit(pipeline: PosePipeline) -> int:
    """Fit one person of a dummy frame cold, then warm from that fit, through the frame path
    (``estimate``), when the pipeline's fitting step is compiled; how many fits ran (0: the
    step is eager, nothing to compile)."""
    cold, warm = pipeline.fit_config.compile_step, pipeline.tracking_config.compile_step
    if not (cold or warm):
        return 0
    rgb, K, boxes = _dummy_frame()
    # The step compiles once per kernel window, whose size follows from the body's size in
    # its crop: a rendered person gives the windows of a real one (on a grey frame the
    # network's start differed, and the first real frame compiled its window again).
    pipeline.estimate(rgb, K, boxes=boxes)
    runs = 1
    if warm and pipeline.last_states is not None:  # as tracking: from the cold fit
        pipeline.estimate(rgb, K, boxes=boxes, warm_starts=[pipeline.last_states.index([0])])
        runs += 1
    # The dummy is nobody: leave no trace of it for the first real frame.
    pipeline.last_states = None
    pipeline.timing = {}
    pipeline.forget_people()
    return runs


def _dummy_frame() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic frame of one standing person: RGB [H, W, 3], K [3, 3], box [1, 4]."""
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.scenes import SceneConfig, render_scene

    width, height = WARM_UP_SIZE
    cfg = SceneConfig(height=height, width=width, extra_person_probability=0.0,
                      occluder_probability=0.0, subject_height=(0.5, 0.6))
    scene = render_scene(BodyMesh.default(), WARM_UP_SEED, cfg)
    return scene.image, np.asarray(scene.K, np.float64), np.stack([scene.people[0].box])
