"""The turn head: facing azimuths, their density, the mirror image, and the head kept in a
model file (which leaves the file's fits, and so their caches, as they were)."""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path

import pytest
import torch

from nbf_ros.body.rotations import axis_angle_to_matrix
from nbf_ros.vision.network import FeatureNet
from nbf_ros.vision.turn_head import (
    TURN_BINS,
    TurnHead,
    azimuth_density,
    bin_targets,
    crop_ray,
    facing_azimuth,
    head_inputs,
    input_size,
    mirrored_weights,
    read_turn,
    turn_weights,
)
from nbf_ros.vision.weights import fit_identity, load_turn_head, save_turn_head

# Body up (+y) on camera up (-y), body front (+z) towards the camera (-z): facing it.
FACING_CAMERA = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0]))
ALONG_AXIS = torch.tensor([0.0, 0.0, 1.0])


def turned(angle: float) -> torch.Tensor:
    """The body facing the camera, turned by ``angle`` about its own up axis."""
    return FACING_CAMERA @ axis_angle_to_matrix(torch.tensor([0.0, angle, 0.0]))


def test_a_body_facing_the_camera_has_azimuth_zero_and_its_back_a_half_turn() -> None:
    assert abs(float(facing_azimuth(FACING_CAMERA, ALONG_AXIS))) < 1e-6
    assert abs(abs(float(facing_azimuth(turned(math.pi), ALONG_AXIS))) - math.pi) < 1e-5


def test_turning_the_body_turns_its_azimuth_the_other_way() -> None:
    # The camera stays put: turning the front left by a puts the camera a to its right.
    for angle in (0.3, -1.2, 2.0):
        assert abs(float(facing_azimuth(turned(angle), ALONG_AXIS)) + angle) < 1e-5


def test_the_azimuth_is_taken_along_the_crops_ray_not_the_optical_axis() -> None:
    # A body off to the side, turned so that it faces the camera along that ray.
    side = math.atan2(1.0, 3.0)
    ray = torch.tensor([1.0, 0.0, 3.0]) / math.hypot(1.0, 3.0)
    assert abs(float(facing_azimuth(turned(-side), ray))) < 1e-5
    assert abs(float(facing_azimuth(turned(-side), ALONG_AXIS)) - side) < 1e-5


def test_the_crop_ray_points_through_the_crop_centre() -> None:
    K = torch.tensor([[[100.0, 0.0, 20.0], [0.0, 100.0, 32.0], [0.0, 0.0, 1.0]]])
    ray = crop_ray(K, 64, 64)[0]
    # Centre pixel (32, 32): 12 px right of the principal point, none below it.
    torch.testing.assert_close(ray, torch.nn.functional.normalize(
        torch.tensor([0.12, 0.0, 1.0]), dim=0))


def test_the_density_integrates_to_one_around_the_circle() -> None:
    weights = torch.softmax(torch.randn(3, TURN_BINS, generator=torch.Generator().manual_seed(0)),
                            -1)
    angles = torch.linspace(-math.pi, math.pi, 2001)[:-1]
    density = azimuth_density(weights, angles.expand(3, -1))
    integral = density.sum(1) * (2 * math.pi / len(angles))
    torch.testing.assert_close(integral, torch.ones(3), atol=1e-4, rtol=0)


def test_targets_peak_at_the_nearest_bin_and_sum_to_one() -> None:
    step = 2 * math.pi / TURN_BINS
    targets = bin_targets(torch.tensor([3 * step + 0.1 * step, -step]))
    torch.testing.assert_close(targets.sum(1), torch.ones(2))
    assert targets.argmax(1).tolist() == [3, TURN_BINS - 1]


def test_the_density_is_highest_where_the_weights_are() -> None:
    weights = bin_targets(torch.tensor([1.0]))
    density = azimuth_density(weights, torch.tensor([[1.0, 1.0 + math.pi / 2, 1.0 + math.pi]]))
    assert density[0, 0] > density[0, 1] > density[0, 2]


def test_the_mirror_image_reads_the_negated_azimuth() -> None:
    weights = torch.softmax(torch.randn(2, TURN_BINS, generator=torch.Generator().manual_seed(1)),
                            -1)
    angles = torch.tensor([[0.4, -2.0, 3.0], [1.1, 0.0, -0.7]])
    torch.testing.assert_close(azimuth_density(mirrored_weights(weights), -angles),
                               azimuth_density(weights, angles))


def test_head_inputs_are_as_long_as_input_size_says(tiny_model) -> None:
    _, net = tiny_model
    cfg = net.config
    with torch.no_grad():
        rows = head_inputs(net(torch.rand(2, 3, 64, 64)))
    assert rows.shape == (2, input_size(cfg.feature_dim, cfg.num_joints, cfg.num_shape))


def _head_for(net: FeatureNet) -> TurnHead:
    cfg = net.config
    torch.manual_seed(3)
    head = TurnHead(input_size(cfg.feature_dim, cfg.num_joints, cfg.num_shape))
    head.mean.normal_()
    return head.eval()


def test_a_stored_turn_head_reads_as_it_was_saved(tiny_model, tmp_path: Path) -> None:
    path, net = tiny_model
    copy = tmp_path / "with_head.pt"
    copy.write_bytes(path.read_bytes())
    head = _head_for(net)

    save_turn_head(copy, head, {"scenes": 3})

    loaded = load_turn_head(copy)
    x = torch.randn(4, head.inputs)
    torch.testing.assert_close(loaded(x), head(x))
    assert not loaded.training


def _tuned_copy(net: FeatureNet) -> FeatureNet:
    """The network with every weight nudged: what tuning it for the turn would leave."""
    tuned = copy.deepcopy(net)
    torch.manual_seed(5)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return tuned.eval()


def test_a_head_with_its_own_network_keeps_it_in_the_model_file(tiny_model,
                                                                tmp_path: Path) -> None:
    path, net = tiny_model
    copy_path = tmp_path / "with_head.pt"
    copy_path.write_bytes(path.read_bytes())
    head = _head_for(net)
    head.network = _tuned_copy(net)

    save_turn_head(copy_path, head, {})

    loaded = load_turn_head(copy_path)
    assert loaded.network is not None and not loaded.network.training
    assert all(p.dtype == torch.float32 for p in loaded.network.parameters())
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():  # stored in half precision: close, not equal
        torch.testing.assert_close(loaded.network(x).features, head.network(x).features,
                                   atol=2e-2, rtol=2e-2)
    assert fit_identity(copy_path) == fit_identity(path)  # the fitting network is untouched


def test_a_turn_head_whose_own_network_is_another_architecture_is_refused(
        tiny_model, tmp_path: Path) -> None:
    path, net = tiny_model
    copy_path = tmp_path / "with_head.pt"
    copy_path.write_bytes(path.read_bytes())
    head = _head_for(net)
    head.network = FeatureNet(dataclasses.replace(net.config, decoder_width=16))
    save_turn_head(copy_path, head, {})
    with pytest.raises(ValueError, match="own network"):
        load_turn_head(copy_path)


def test_a_head_without_a_network_reads_the_engines_outputs_and_their_mirror(
        tiny_model) -> None:
    _, net = tiny_model
    head, crops = _head_for(net), torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        out = net(crops)
        expected = turn_weights(head, out, net(torch.flip(crops, (-1,))))
        torch.testing.assert_close(read_turn(head, crops, out, net), expected)


def test_a_head_with_its_own_network_reads_the_crops_through_it(tiny_model) -> None:
    _, net = tiny_model
    head, crops = _head_for(net), torch.rand(3, 3, 64, 64)
    head.network = _tuned_copy(net)
    with torch.no_grad():
        out = net(crops)
        own = turn_weights(head, head.network(crops), head.network(torch.flip(crops, (-1,))))
        engines = turn_weights(head, out, net(torch.flip(crops, (-1,))))
        read = read_turn(head, crops, out, net)
    torch.testing.assert_close(read, own)
    assert not torch.allclose(read, engines, atol=1e-4)


def test_a_model_file_without_a_turn_head_has_none(tiny_model) -> None:
    assert load_turn_head(tiny_model[0]) is None


def test_storing_a_turn_head_keeps_the_files_fits(tiny_model, tmp_path: Path) -> None:
    path, net = tiny_model
    copy = tmp_path / "with_head.pt"
    copy.write_bytes(path.read_bytes())
    before = fit_identity(copy)
    save_turn_head(copy, _head_for(net), {})
    assert fit_identity(copy) == before  # the head only chooses among fitted starts


def test_a_turn_head_for_another_network_is_refused(tiny_model, tmp_path: Path) -> None:
    copy = tmp_path / "with_head.pt"
    copy.write_bytes(tiny_model[0].read_bytes())
    save_turn_head(copy, TurnHead(17), {})
    with pytest.raises(ValueError, match="17 inputs"):
        load_turn_head(copy)


def test_training_samples_read_each_crop_and_its_mirror_image(tiny_model) -> None:
    from nbf_ros.pipeline import PipelineConfig, PosePipeline
    from nbf_ros.train.turn_head import turn_samples

    path, net = tiny_model
    pipeline = PosePipeline(PipelineConfig(model=str(path), device="cpu", engine="torch"))
    samples = turn_samples(pipeline, 123, scenes=2, views=2, progress=False)

    cfg = net.config
    assert samples.inputs.shape == (2 * 2 * 3, input_size(cfg.feature_dim, cfg.num_joints,
                                                          cfg.num_shape))
    assert samples.scene.tolist() == [0] * 6 + [1] * 6
    plain, mirrored = samples.azimuth[:3], samples.azimuth[3:6]
    torch.testing.assert_close(mirrored, -plain)
    assert samples.occluded.tolist()[:6] == [False, True, True] * 2
    assert not torch.allclose(samples.inputs[0], samples.inputs[1])  # the occluder shows


def test_the_turn_head_command_stores_a_head_the_pipeline_reads(tiny_model,
                                                                tmp_path: Path) -> None:
    from nbf_ros import cli
    from nbf_ros.pipeline import PipelineConfig, PosePipeline
    from nbf_ros.vision.weights import update_model_meta

    out = tmp_path / "with_head.pt"
    status = cli.main(["turn-head", "--model", str(tiny_model[0]), "--out", str(out),
                       "--scenes", "10", "--views", "1", "--epochs", "1", "--device", "cpu",
                       "--quiet"])
    assert status == 0
    assert load_turn_head(out) is not None
    assert load_turn_head(tiny_model[0]) is None  # --out leaves the original alone

    update_model_meta(out, fit={"hypotheses": 2, "hypothesis_turn_prior_weight": 0.1})
    # Two starts asked for: on a CPU the pipeline's default is one (PipelineConfig.hypotheses).
    pipeline = PosePipeline(PipelineConfig(model=str(out), device="cpu", engine="torch",
                                           hypotheses=2))
    image = (torch.rand(96, 96, 3, generator=torch.Generator().manual_seed(4)) * 255).to(
        torch.uint8).numpy()
    K = [[80.0, 0.0, 48.0], [0.0, 80.0, 48.0], [0.0, 0.0, 1.0]]
    read = pipeline.readout([image, image], K, [20.0, 10.0, 70.0, 90.0])
    assert read.turn.shape == (2, TURN_BINS)
    torch.testing.assert_close(read.turn.sum(1), torch.ones(2))

    pipeline.fit_config = dataclasses.replace(pipeline.fit_config, hypotheses=1)
    assert pipeline.readout([image], K, [20.0, 10.0, 70.0, 90.0]).turn is None  # one start


def test_the_turn_head_command_reports_a_bad_argument_in_one_line(tiny_model, capsys) -> None:
    from nbf_ros import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(["turn-head", "--model", str(tiny_model[0]), "--scenes", "3"])
    assert stop.value.code == 2
    assert "--scenes must be 0 (keep the file's head) or at least 10" in capsys.readouterr().err


def test_tuning_lowers_the_turn_loss_and_leaves_the_fitting_network_alone(tiny_model) -> None:
    from nbf_ros.pipeline import PipelineConfig, PosePipeline
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.train.turn_head import held_out_report, tune_turn_head

    path, net = tiny_model
    pipeline = PosePipeline(PipelineConfig(model=str(path), device="cpu", engine="torch"))
    fitting = {k: v.clone() for k, v in pipeline.engine.net.state_dict().items()}
    head = _head_for(net)

    # Four scenes: three tuned on in one step of three, the fourth held out.
    tuned, before, after = tune_turn_head(pipeline, pipeline.engine.net, head, 321, scenes=4,
                                          views=2, lr=1e-3, batch=3, progress=False)

    mesh = BodyMesh.default()
    seen = range(321, 324)
    start = held_out_report(pipeline, pipeline.engine.net, head, mesh, seen, 2, False)
    end = held_out_report(pipeline, tuned.network, tuned, mesh, seen, 2, False)
    assert end.held_out_loss < start.held_out_loss  # a step down the turn loss
    held_out = held_out_report(pipeline, pipeline.engine.net, head, mesh, range(324, 325), 2,
                               False)
    assert before.held_out_loss == pytest.approx(held_out.held_out_loss)
    assert tuned.network is not None and head.network is None  # the head given stays as it was
    assert not any(p.requires_grad for p in tuned.parameters())
    for k, v in pipeline.engine.net.state_dict().items():
        torch.testing.assert_close(v, fitting[k])


def test_the_turn_head_command_tunes_the_head_with_its_own_network(tiny_model,
                                                                   tmp_path: Path) -> None:
    from nbf_ros import cli
    from nbf_ros.vision.weights import turn_head_meta

    out = tmp_path / "tuned.pt"
    status = cli.main(["turn-head", "--model", str(tiny_model[0]), "--out", str(out),
                       "--scenes", "10", "--views", "1", "--epochs", "1", "--tune-scenes", "10",
                       "--device", "cpu", "--quiet"])
    assert status == 0
    assert load_turn_head(out).network is not None
    meta = turn_head_meta(out)
    assert meta["scenes"] == 10 and meta["tuning"]["scenes"] == 10
    assert set(meta["tuning"]["after"]) >= {"held_out_loss", "median_error_deg"}
    assert fit_identity(out) == fit_identity(tiny_model[0])


def test_tuning_needs_a_head_to_start_from(tiny_model, capsys) -> None:
    from nbf_ros import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(["turn-head", "--model", str(tiny_model[0]), "--scenes", "0",
                  "--tune-scenes", "10", "--device", "cpu"])
    assert stop.value.code == 2
    assert "has no turn head to keep" in capsys.readouterr().err
