"""Model files: a network with its kernel and clutter features, saved and read back as tensors
only, with clear errors for files that are not model files or do not fit the volume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nbf_ros.nbv.renderer import RenderConfig
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.paths import find_model_file
from nbf_ros.vision.network import FeatureNet, NetworkConfig
from nbf_ros.vision.weights import (
    FORMAT,
    VERSION,
    fit_identity,
    fit_settings,
    load_model,
    resolve_model_path,
    save_model,
    update_model_meta,
)

VOLUME = "nbv_anny.npz"
SMALL = NetworkConfig(widths=(8, 12, 16, 24, 32), decoder_width=16, blocks=1)


def _trained_looking_pair() -> tuple[FeatureNet, NeuralBodyVolume]:
    """A network whose batch-norm statistics moved off their initial values, and a volume
    whose kernel and clutter features differ from the file's."""
    torch.manual_seed(0)
    net = FeatureNet(SMALL).train()
    with torch.no_grad():
        net(torch.rand(2, 3, 64, 64))
    base = NeuralBodyVolume.load(find_model_file(VOLUME))
    gen = torch.Generator().manual_seed(1)
    volume = NeuralBodyVolume(base.body, base.sigma,
                              torch.randn(base.features.shape, generator=gen),
                              torch.randn(16, base.feature_dim, generator=gen),
                              base.joint_kernel_weights, base.bin_width)
    return net.eval(), volume


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FeatureNet, NeuralBodyVolume]:
    net, volume = _trained_looking_pair()
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(path, net, volume, VOLUME, {"steps": 3, "note": "test"})
    return path, net, volume


def test_a_loaded_model_gives_the_saved_network_outputs(saved) -> None:
    path, net, _ = saved
    image = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))

    loaded, _, _ = load_model(path)

    assert not loaded.training
    assert loaded.config == net.config
    with torch.no_grad():
        want, got = net(image), loaded(image)
    for name in ("features", "heatmaps", "centre", "size", "pose6d", "shape"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), rtol=0, atol=0)


def test_a_loaded_model_has_the_saved_kernel_and_clutter_features(saved) -> None:
    path, _, volume = saved

    _, loaded, _ = load_model(path)

    # Equal up to float rounding: the volume normalises the (already unit) features it is given.
    torch.testing.assert_close(loaded.features, volume.features)
    torch.testing.assert_close(loaded.clutter, volume.clutter)
    torch.testing.assert_close(loaded.gram, volume.gram)
    torch.testing.assert_close(loaded.sigma, volume.sigma, rtol=0, atol=0)


def test_a_loaded_model_returns_its_metadata_and_render_opacity(saved) -> None:
    _, _, meta = load_model(saved[0])

    assert meta == {"steps": 3, "note": "test", "render_opacity": RenderConfig().opacity}


def test_the_kernel_geometry_saved_with_a_model_replaces_the_shipped_one(saved,
                                                                         tmp_path: Path) -> None:
    net, volume, _ = load_model(saved[0])
    thinner = NeuralBodyVolume(volume.body, volume.sigma * 0.5, volume.features, volume.clutter,
                               volume.joint_kernel_weights, volume.bin_width)
    path = tmp_path / "thin.pt"
    save_model(path, net, thinner, "nbv_anny.npz", {}, render_opacity=1.5)
    _, loaded, meta = load_model(path)
    assert torch.allclose(loaded.sigma, volume.sigma * 0.5)
    assert meta["render_opacity"] == 1.5


def test_a_file_that_is_not_a_torch_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("not a model\n")

    with pytest.raises(ValueError, match="not a readable nbf_ros model file"):
        load_model(path)


def test_a_torch_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"state": {"w": torch.zeros(3)}}, path)

    with pytest.raises(ValueError, match="is not an nbf_ros model file"):
        load_model(path)


def test_a_model_file_of_another_version_is_refused(saved, tmp_path: Path) -> None:
    data = torch.load(saved[0], weights_only=True)
    data["version"] = VERSION + 1
    path = tmp_path / "future.pt"
    torch.save(data, path)

    with pytest.raises(ValueError, match=f"version {VERSION + 1}.*reads version {VERSION}"):
        load_model(path)


def test_kernel_features_that_do_not_fit_the_volume_are_refused(saved, tmp_path: Path) -> None:
    data = torch.load(saved[0], weights_only=True)
    assert data["format"] == FORMAT
    data["kernel_features"] = data["kernel_features"][:, :, :32]
    path = tmp_path / "mismatch.pt"
    torch.save(data, path)

    with pytest.raises(ValueError, match=r"kernel features \(858, 3, 32\) do not fit"):
        load_model(path)


def test_resolve_model_path_finds_models_files_by_name() -> None:
    path = resolve_model_path(VOLUME)

    assert path == find_model_file(VOLUME)
    assert path.is_file() and path.parent.name == "models"


def test_resolve_model_path_keeps_an_existing_path(tmp_path: Path) -> None:
    path = tmp_path / VOLUME  # same name as a models/ file: the given path wins
    path.write_bytes(b"x")

    assert resolve_model_path(path) == path
    assert resolve_model_path(str(path)) == path


def test_resolve_model_path_names_a_missing_file() -> None:
    with pytest.raises(FileNotFoundError, match="no_such_model.pt"):
        resolve_model_path("no_such_model.pt")


def test_fit_settings_stored_in_a_model_file_come_back_with_its_metadata(saved,
                                                                       tmp_path: Path) -> None:
    path = tmp_path / "tuned.pt"
    path.write_bytes(saved[0].read_bytes())

    update_model_meta(path, fit={"match": "posterior", "keypoint_weight": 0.3})

    _, _, meta = load_model(path)
    assert fit_settings(meta) == {"match": "posterior", "keypoint_weight": 0.3}
    assert meta["steps"] == 3  # the rest of the metadata is kept


def test_a_models_fit_identity_ignores_the_choice_among_starts_only(saved,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / "tuned.pt"
    path.write_bytes(saved[0].read_bytes())
    update_model_meta(path, fit={"anchor_weight": 0.1, "hypothesis_keypoint_weight": 1.0})
    before = fit_identity(path)

    update_model_meta(path, fit={"anchor_weight": 0.1, "hypothesis_turn_weight": 0.2,
                                 "hypothesis_blend_temperature": 0.1})
    assert fit_identity(path) == before  # the same fits, chosen among differently

    update_model_meta(path, fit={"anchor_weight": 0.2, "hypothesis_keypoint_weight": 1.0})
    assert fit_identity(path) != before  # another objective: other fits


def test_a_model_without_fit_settings_has_none() -> None:
    assert fit_settings({"steps": 3}) == {}


def test_unknown_fit_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="iterations"):
        fit_settings({"fit": {"iterations": 10}})


def test_the_pipeline_fits_with_the_model_files_settings(saved, tmp_path: Path) -> None:
    from nbf_ros.pipeline import PipelineConfig, PosePipeline

    path = tmp_path / "tuned.pt"
    path.write_bytes(saved[0].read_bytes())
    update_model_meta(path, fit={"match": "posterior", "anchor_weight": 0.02})

    tuned = PosePipeline(PipelineConfig(model=str(path), device="cpu", engine="torch"))
    plain = PosePipeline(PipelineConfig(model=str(path), device="cpu", engine="torch",
                                        model_fit_settings=False))

    for cfg in (tuned.fit_config, tuned.tracking_config):
        assert (cfg.match, cfg.anchor_weight) == ("posterior", 0.02)
    assert (plain.fit_config.match, plain.fit_config.anchor_weight) == ("blend", 0.0)
    assert tuned.tracking_config.iterations == plain.tracking_config.iterations


def test_a_model_files_step_schedule_reaches_cold_fits_only(saved, tmp_path: Path) -> None:
    from nbf_ros.node_settings import apply_live_settings, build_pipeline, default_settings
    from nbf_ros.pipeline import PipelineConfig, PosePipeline

    path = tmp_path / "gentle.pt"
    path.write_bytes(saved[0].read_bytes())
    update_model_meta(path, fit={"match": "posterior", "lr": 0.01, "coarse_fraction": 0.0,
                                 "root_iterations": 5})
    plain = PosePipeline(PipelineConfig(model=str(path), device="cpu", engine="torch",
                                        model_fit_settings=False))

    settings = dict(default_settings(), model=str(path), device="cpu", engine="torch")
    pipeline, tracker = build_pipeline(settings)
    apply_live_settings(pipeline, tracker, settings)

    cold, warm = pipeline.fit_config, pipeline.tracking_config
    assert (cold.lr, cold.coarse_fraction, cold.root_iterations) == (0.01, 0.0, 5)
    assert warm.match == "posterior"  # the objective goes to both
    assert (warm.lr, warm.coarse_fraction, warm.root_iterations) == (
        plain.tracking_config.lr, plain.tracking_config.coarse_fraction,
        plain.tracking_config.root_iterations)
    apply_live_settings(pipeline, tracker, dict(settings, fit_iterations=3))
    assert pipeline.fit_config.root_iterations == 3  # capped by the step count


def test_a_model_files_turned_starts_reach_cold_fits_where_the_node_asks(
        saved, tmp_path: Path) -> None:
    from nbf_ros.node_settings import apply_live_settings, build_pipeline, default_settings

    path = tmp_path / "turned.pt"
    path.write_bytes(saved[0].read_bytes())
    update_model_meta(path, fit={"hypotheses": 8, "hypothesis_keypoint_weight": 1.0,
                                 "hypothesis_turn_weight": 0.3})
    settings = dict(default_settings(), model=str(path), device="cpu", engine="torch")
    pipeline, tracker = build_pipeline(settings)

    assert pipeline.cold_hypotheses == 8  # the model file's choice, kept for a GPU
    assert pipeline.fit_config.hypotheses == 1  # fit_hypotheses 0 on a CPU: one start
    assert pipeline.tracking_config.hypotheses == 1  # a tracked person keeps its turn
    assert pipeline.tracking_config.hypothesis_keypoint_weight == 1.0
    apply_live_settings(pipeline, tracker, dict(settings, fit_hypotheses=4))
    assert pipeline.fit_config.hypotheses == 4
    assert pipeline.fit_config.hypothesis_turn_weight == 0.3  # the choice's rule too
    assert pipeline.tracking_config.hypotheses == 1


def test_a_plain_pipeline_takes_the_nodes_default_starts_on_a_cpu(saved, tmp_path: Path
                                                                    ) -> None:
    # Issue 32 item 7: PosePipeline(PipelineConfig()) fitted a street photo from the model
    # file's 8 starts on a CPU (159 s) while the node took one.
    from nbf_ros.pipeline import PipelineConfig, PosePipeline

    path = tmp_path / "turned.pt"
    path.write_bytes(saved[0].read_bytes())
    update_model_meta(path, fit={"hypotheses": 8})
    plain = PosePipeline(PipelineConfig(model=str(path), device="cpu", engine="torch",
                                        landmarks=False))
    assert plain.cold_hypotheses == 8 and plain.fit_config.hypotheses == 1
    asked = PosePipeline(PipelineConfig(model=str(path), device="cpu", engine="torch",
                                        landmarks=False, hypotheses=3))
    assert asked.fit_config.hypotheses == 3
