"""The pose pipeline (frame + intrinsics -> HumanEstimate list) on synthetic frames."""

from __future__ import annotations

import os

import numpy as np
import pytest

from nbf_ros.estimate import HumanEstimate, JointState
from nbf_ros.fitting.config import FitConfig
from nbf_ros.pipeline import PipelineConfig, PosePipeline
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import Scene, SceneConfig, render_scene

# NBF_TEST_MODEL lets a developer run these against another model file.
MODEL = os.environ.get("NBF_TEST_MODEL", "nbf_anny_net.pt")
FAST = FitConfig(iterations=10, root_iterations=2)


@pytest.fixture(scope="module")
def pipeline() -> PosePipeline:
    return PosePipeline(PipelineConfig(model=MODEL, device="cpu", fit=FAST,
                                       tracking_fit=FitConfig.tracking(iterations=5)))


@pytest.fixture(scope="module")
def scene() -> Scene:
    """A 256 x 192 frame with one person and no occluder."""
    cfg = SceneConfig(height=192, width=256, extra_people=0, occluder_probability=0.0,
                      subject_height=(0.7, 0.8))
    return render_scene(BodyMesh.default(), 1_000_000_000 + 700_000, cfg)


def test_given_boxes_give_one_estimate_each_with_every_field(pipeline: PosePipeline,
                                                              scene: Scene) -> None:
    box = scene.people[0].box
    humans = pipeline.estimate(scene.image, scene.K, boxes=np.stack([box, box]))
    assert len(humans) == 2
    for h in humans:
        assert isinstance(h, HumanEstimate)
        assert h.joints.shape == (24, 3) and np.isfinite(h.joints).all()
        assert ((h.joint_visibility >= 0) & (h.joint_visibility <= 1)).all()
        assert set(np.unique(h.joint_state)) <= {int(s) for s in JointState}
        assert h.iterations <= FAST.iterations and h.root_translation[2] > 0


def test_keypoints_are_the_joints_projected_into_the_frame(pipeline: PosePipeline,
                                                           scene: Scene) -> None:
    (h,) = pipeline.estimate(scene.image, scene.K, boxes=scene.people[0].box[None])
    uvw = h.joints @ scene.K.T
    np.testing.assert_allclose(h.keypoints_2d, uvw[:, :2] / uvw[:, 2:], atol=1e-3)


def test_joints_projecting_outside_the_frame_are_marked_outside(pipeline: PosePipeline,
                                                                scene: Scene) -> None:
    (h,) = pipeline.estimate(scene.image, scene.K, boxes=scene.people[0].box[None])
    width, height = scene.image.shape[1], scene.image.shape[0]
    out = (h.keypoints_2d[:, 0] < 0) | (h.keypoints_2d[:, 0] >= width) | \
        (h.keypoints_2d[:, 1] < 0) | (h.keypoints_2d[:, 1] >= height)
    assert ((h.joint_state == JointState.OUTSIDE_IMAGE) == out).all()
    assert (h.joint_visibility[out] == 0).all()


def test_a_warm_start_uses_the_tracking_budget(pipeline: PosePipeline, scene: Scene) -> None:
    box = scene.people[0].box[None]
    pipeline.estimate(scene.image, scene.K, boxes=box)
    state = pipeline.last_states.index([0])
    (second,) = pipeline.estimate(scene.image, scene.K, boxes=box, warm_starts=[state])
    assert 1 <= second.iterations <= 5


def test_timing_names_every_stage(pipeline: PosePipeline, scene: Scene) -> None:
    pipeline.estimate(scene.image, scene.K, boxes=scene.people[0].box[None])
    assert {"preprocess", "network", "fit", "total"} <= set(pipeline.timing)


@pytest.mark.parametrize(("image", "K", "message"), [
    (np.zeros((64, 64), np.uint8), np.eye(3), "RGB uint8"),
    (np.zeros((64, 64, 3), np.float32), np.eye(3), "RGB uint8"),
    (np.zeros((64, 64, 3), np.uint8), np.zeros((3, 3)), "positive focal"),
    (np.zeros((64, 64, 3), np.uint8), np.full((3, 3), np.nan), "finite"),
    # Issue 32: a strip's downscaled detection frame had a side of no pixels (a crash).
    (np.zeros((3, 10_000, 3), np.uint8), np.eye(3), "too long and thin"),
    (np.zeros((10_000, 3, 3), np.uint8), np.eye(3), "too long and thin"),
])
def test_bad_frames_are_refused_with_a_reason(pipeline: PosePipeline, image: np.ndarray,
                                              K: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pipeline.estimate(image, K)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        PipelineConfig(detect_size=100)
    with pytest.raises(ValueError, match="max_people"):
        PipelineConfig(max_people=0)
    with pytest.raises(ValueError, match="engine must be one of auto, tensorrt"):
        PipelineConfig(engine="tflite")


def test_the_engine_running_the_network_is_reported(pipeline: PosePipeline) -> None:
    # auto on the CPU: ONNX Runtime where it is installed (bench/results/engines_cpu.md).
    assert pipeline.engine.name in ("onnxruntime", "torch")
    assert pipeline.engine_description.startswith(f"{pipeline.engine.name} (")
    assert [name for name, _ in pipeline.engine.skipped][:2] == ["tensorrt", "compiled"]


def test_engines_give_the_same_readout(pipeline: PosePipeline, scene: Scene) -> None:
    from nbf_ros.vision.engines import create_engine

    box = scene.people[0].box
    engine = pipeline.engine
    try:
        pipeline.engine = create_engine("torch", pipeline.net, None, pipeline.device)
        ref = pipeline.readout([scene.image], scene.K, box)
    finally:
        pipeline.engine = engine
    read = pipeline.readout([scene.image], scene.K, box)
    assert float((read.features * ref.features).sum(-1).min()) > 0.999
    assert float((read.regression_joints - ref.regression_joints).abs().max()) < 1e-3


def test_detection_finds_a_lone_person_in_most_frames(pipeline: PosePipeline) -> None:
    # Measured with the shipped model: one detection in 7 of 8 such frames, each centred in
    # the person's box.
    import torch

    cfg = SceneConfig(height=192, width=256, extra_people=0, occluder_probability=0.0,
                      subject_height=(0.6, 0.8))
    mesh = BodyMesh.default()
    found = 0
    for seed in range(8):
        scene = render_scene(mesh, 1_000_700_000 + seed, cfg)
        image = torch.from_numpy(scene.image).permute(2, 0, 1).float() / 255
        x0, y0, x1, y1 = scene.people[0].box
        for det in pipeline.detect(image):
            cx, cy = (det.box[:2] + det.box[2:]) / 2
            if x0 <= cx <= x1 and y0 <= cy <= y1:
                found += 1
                break
    assert found >= 5


def test_tracking_keeps_the_id_and_warm_starts_the_next_frame(pipeline: PosePipeline,
                                                              scene: Scene) -> None:
    from nbf_ros.fitting.tracking import Tracker

    tracker = Tracker()
    first = pipeline.track(scene.image, scene.K, tracker, now=0.0)
    second = pipeline.track(scene.image, scene.K, tracker, now=0.1)
    assert first and [h.track_id for h in second] == [h.track_id for h in first]
    # Warm-started people run the tracking step budget, not the cold one.
    assert all(h.iterations <= pipeline.tracking_config.iterations for h in second)


def test_the_next_frame_can_be_prepared_before_this_one_is_tracked(pipeline: PosePipeline,
                                                                    scene: Scene) -> None:
    # What a pipelined node does: the network reads frame 2 before frame 1 is fitted. The
    # tracks and fits come out as they do one frame after the other.
    from nbf_ros.fitting.tracking import Tracker

    one_by_one = Tracker()
    pipeline.forget_people()
    expected = [pipeline.track(scene.image, scene.K, one_by_one, now=t) for t in (0.0, 0.1)]
    overlapped = Tracker()
    pipeline.forget_people()
    first = pipeline.prepare(scene.image, scene.K, follow=True)
    second = pipeline.prepare(scene.image, scene.K, follow=True)
    got = [pipeline.finish_track(first, overlapped, now=0.0),
           pipeline.finish_track(second, overlapped, now=0.1)]
    assert expected[0] and got[0]
    for want, have in zip(expected, got, strict=True):
        assert [h.track_id for h in have] == [h.track_id for h in want]
        for a, b in zip(want, have, strict=True):
            np.testing.assert_allclose(b.joints, a.joints, atol=1e-4)
    assert all(h.iterations <= pipeline.tracking_config.iterations for h in got[1])


def test_each_prepared_frame_keeps_its_own_timing(pipeline: PosePipeline, scene: Scene) -> None:
    first = pipeline.prepare(scene.image, scene.K)
    second = pipeline.prepare(scene.image, scene.K)
    assert first.timing is not second.timing and "fit" not in first.timing
    pipeline.finish(first)
    assert pipeline.timing is first.timing
    # With the landmark stage, finding people is its "landmarks" stage (detector included).
    found = "landmarks" if pipeline.front_end is not None else "detect"
    assert {"preprocess", found, "network", "fit", "total"} <= set(first.timing)
    assert first.timing["total"] >= first.timing["prepare"] + first.timing["fit"]


def test_a_frame_without_people_prepares_no_readout(pipeline: PosePipeline) -> None:
    blank = np.full((192, 256, 3), 128, np.uint8)
    frame = pipeline.prepare(blank, np.array([[200.0, 0, 128], [0, 200.0, 96], [0, 0, 1]]),
                             boxes=np.zeros((0, 4)))
    assert frame.read is None and frame.boxes.shape == (0, 4)
    assert pipeline.finish(frame) == [] and pipeline.last_states is None


def test_people_whose_fit_is_not_finite_are_dropped_and_counted(scene: Scene) -> None:
    import torch

    pipe = PosePipeline(PipelineConfig(model=MODEL, device="cpu", fit=FAST))
    pipe.volume.features.data.fill_(float("nan"))  # every rendered feature becomes NaN
    box = scene.people[0].box
    humans = pipe.estimate(scene.image, scene.K, boxes=np.stack([box]))
    assert humans == [] and pipe.rejected == 1 and pipe.last_states is None
    assert torch.isnan(pipe.volume.features).all()


def test_readout_of_one_box_in_several_frames_is_one_batch(pipeline: PosePipeline,
                                                           scene: Scene) -> None:
    box = scene.people[0].box
    read = pipeline.readout([scene.image, scene.image[:, ::-1].copy()], scene.K, box)
    assert read.regression_joints.shape == (2, 24, 3)
    result = pipeline.refine(read, robust=False)
    assert result.joints.shape == (2, 24, 3)
    assert int(result.iterations.max()) <= pipeline.fit_config.iterations


def test_detection_reports_at_most_max_people(scene: Scene) -> None:
    import torch

    low = PosePipeline(PipelineConfig(model=MODEL, device="cpu", max_people=1,
                                      detection_threshold=0.01))
    image = torch.from_numpy(scene.image).permute(2, 0, 1).float() / 255
    found = low.detect(image)
    assert len(found) == 1 and found[0].score >= 0.01
    assert found[0].box.shape == (4,) and np.isfinite(found[0].box).all()


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graphs_give_the_eager_pipelines_detections_and_estimates(scene: Scene) -> None:
    import torch

    image = torch.from_numpy(scene.image).permute(2, 0, 1).float().cuda() / 255
    runs = []
    for graphs in (False, True):
        pipe = PosePipeline(PipelineConfig(model=MODEL, device="cuda", engine="torch",
                                           cuda_graphs=graphs, fit=FAST,
                                           detection_threshold=0.05))
        for _ in range(3):  # the first call of a shape captures, the next ones replay
            found = pipe.detect(image)
            humans = pipe.estimate(scene.image, scene.K, boxes=scene.people[0].box[None])
        runs.append((found, humans, pipe._read_graph.replays + pipe._peaks_graph.replays))
    (eager_found, eager, no_replays), (graph_found, graphed, replays) = runs
    assert no_replays == 0 and replays == 6
    assert len(graph_found) == len(eager_found) >= 1
    for a, b in zip(graph_found, eager_found, strict=True):
        np.testing.assert_allclose(a.box, b.box, atol=1e-2)
    np.testing.assert_allclose(graphed[0].joints, eager[0].joints, atol=1e-3)
    np.testing.assert_allclose(graphed[0].joint_visibility, eager[0].joint_visibility,
                               atol=1e-3)
