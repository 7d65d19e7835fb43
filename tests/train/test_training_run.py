"""A tiny CPU training run end to end: the CI smoke test of `nbf-ros train`."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.paths import find_model_file, source_root
from nbf_ros.train.config import load_train_config
from nbf_ros.train.loop import TrainResult, _lr_at, train
from nbf_ros.vision.network import FeatureNet
from nbf_ros.vision.weights import load_model, update_model_meta

ROOT = source_root()
TINY = ROOT / "config" / "train_tiny.yaml"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny config trained once (30 steps of 4 scenes, 64 x 64)."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    train(load_train_config(TINY), out, progress=False)
    return out


def _log(run: Path) -> list[dict[str, float]]:
    with (run / "log.csv").open() as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def test_loss_falls_over_a_tiny_run(tiny_run: Path) -> None:
    rows = _log(tiny_run)
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20, 25, 30]
    # Batches of 4 are noisy: compare the last three logged means with the first.
    late = sum(r["loss"] for r in rows[-3:]) / 3
    assert late < 0.9 * rows[0]["loss"]
    assert rows[-1]["heatmaps"] < 0.75 * rows[0]["heatmaps"]


def test_run_writes_checkpoint_log_plot_and_model(tiny_run: Path) -> None:
    for name in ("checkpoint.pt", "log.csv", "losses.png", "model.pt"):
        assert (tiny_run / name).is_file(), name
    assert (tiny_run / "losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_file_holds_the_kernel_features_training_moved(tiny_run: Path) -> None:
    net, volume, meta = load_model(tiny_run / "model.pt")
    start = NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))
    moved = (volume.features - start.features).norm(dim=-1).amax()
    assert float(moved) > 1e-3
    assert meta["steps"] == 30 and meta["batch"] == 4
    with torch.no_grad():
        out = net(torch.rand(1, 3, 64, 64))
    assert out.features.shape == (1, volume.feature_dim, 16, 16)


def test_model_file_records_kernels_matched_to_the_mesh_silhouettes(tiny_run: Path) -> None:
    _, volume, meta = load_model(tiny_run / "model.pt")
    record = meta["silhouette"]
    assert record["iou"] >= record["shipped_iou"]
    assert meta["render_opacity"] == record["geometry"]["opacity"]
    shipped = NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))
    scale = record["geometry"]["sigma_scale"]
    assert torch.allclose(volume.sigma, shipped.sigma * scale)


def test_resume_continues_from_the_checkpoint(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = load_train_config(TINY, {"steps": 40})
    result = train(cfg, run, resume=True, progress=False)
    assert result.steps == 40
    assert [int(r["step"]) for r in _log(run)][-2:] == [35, 40]


def test_resume_drops_log_rows_logged_after_the_checkpoint(tiny_run: Path,
                                                           tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    with (run / "log.csv").open("a") as fh:  # as if a stop came after step 35's row
        fh.write("35,1,1,0,1,1,1,1,1,0,0.001,1\n")
    train(load_train_config(TINY, {"steps": 40}), run, resume=True, progress=False)
    steps = [int(r["step"]) for r in _log(run)]
    assert steps == sorted(set(steps)) and steps[-2:] == [35, 40]


def test_resume_of_a_log_begun_before_the_twin_column_gives_it_zeros(tiny_run: Path,
                                                                     tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    with (run / "log.csv").open() as fh:
        old = [{k: v for k, v in r.items() if k != "twin"} for r in csv.DictReader(fh)]
    with (run / "log.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, list(old[0]))
        writer.writeheader()
        writer.writerows(old)

    train(load_train_config(TINY, {"steps": 40}), run, resume=True, progress=False)

    rows = _log(run)
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert [r["loss"] for r in rows[:6]] == [float(r["loss"]) for r in old]
    assert all(r["twin"] == 0.0 for r in rows)  # the term is off in the tiny config


def test_a_run_with_the_depth_twin_term_logs_and_trains_it(tmp_path: Path) -> None:
    cfg = load_train_config(TINY, {"steps": 10, "weights": {"twin": 1.0}})

    result = train(cfg, tmp_path / "run", progress=False)

    rows = _log(tmp_path / "run")
    assert result.steps == 10
    assert all(0.0 < r["twin"] < 10.0 for r in rows)
    assert (tmp_path / "run" / "model.pt").is_file()


def test_a_second_run_into_the_same_folder_is_refused(tiny_run: Path) -> None:
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(load_train_config(TINY), tiny_run, progress=False)


def test_cli_reports_a_bad_config_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: 10\nbogus: 1\n")
    script = Path(sys.executable).parent / "nbf-ros"
    if not script.is_file():
        pytest.skip(f"no console script at {script}")
    result = subprocess.run([str(script), "train", "--config", str(bad), "--out",
                             str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "unknown keys ['bogus']" in result.stderr
    assert "Traceback" not in result.stderr


def test_time_limited_resume_stops_early_at_the_low_learning_rate(tiny_run: Path,
                                                                  tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = load_train_config(TINY, {"steps": 100_000, "minutes": 0.05})
    result = train(cfg, run, resume=True, progress=False)
    assert 30 < result.steps < 100_000
    _, _, meta = load_model(result.model_path)
    assert meta["steps"] == result.steps
    last = _log(run)[-1]
    assert int(last["step"]) == result.steps
    # The clock moved the cosine to its end: the last step ran near 5% of the base rate.
    assert last["lr"] < 0.1 * cfg.lr


def test_learning_rate_decays_by_the_clock_when_it_is_further_along() -> None:
    cfg = load_train_config(TINY, {"steps": 1000})
    by_steps = _lr_at(cfg, 100)
    assert _lr_at(cfg, 100, at_least=0.0) == by_steps
    assert _lr_at(cfg, 100, at_least=0.5) < by_steps
    assert _lr_at(cfg, 100, at_least=1.0) == pytest.approx(0.05 * cfg.lr)
    assert _lr_at(cfg, 999, at_least=0.1) == _lr_at(cfg, 999)  # steps further along: steps win
    assert _lr_at(cfg, 0, at_least=0.3) == _lr_at(cfg, 0)  # the warm-up is never skipped


def _init_run(tiny_run: Path, out: Path, **overrides: object) -> TrainResult:
    """A short new run started from the tiny run's model file."""
    cfg = load_train_config(TINY, {"steps": 2, "init": str(tiny_run / "model.pt"),
                                   **overrides})
    return train(cfg, out, progress=False)


def test_a_run_from_a_model_file_starts_from_its_network_and_features(
        tiny_run: Path, tmp_path: Path) -> None:
    # A learning rate and a feature momentum that barely move anything in two steps.
    result = _init_run(tiny_run, tmp_path / "run", lr=1e-9, momentum=0.99999)
    start_net, start_volume, _ = load_model(tiny_run / "model.pt")
    net, volume, _ = load_model(result.model_path)
    # Parameters only: batch-norm statistics follow the new batches whatever the rate.
    started = dict(start_net.named_parameters())
    for name, value in net.named_parameters():
        assert torch.allclose(value, started[name], atol=1e-5), name
    scratch = FeatureNet(load_train_config(TINY).network)
    assert any(not torch.allclose(v, started[k], atol=1e-3)
               for k, v in scratch.named_parameters())
    assert torch.allclose(volume.features, start_volume.features, atol=1e-3)
    assert torch.allclose(volume.clutter, start_volume.clutter, atol=1e-3)


def test_a_run_from_a_model_file_trains_on_scenes_that_model_has_not_seen(
        tiny_run: Path, tmp_path: Path) -> None:
    result = _init_run(tiny_run, tmp_path / "run")
    _, _, start_meta = load_model(tiny_run / "model.pt")
    _, _, meta = load_model(result.model_path)
    assert start_meta["next_scene"] == 30 * 4  # seeds 0..119 trained the tiny model
    assert meta["next_scene"] == 30 * 4 + 2 * 4
    assert meta["origin"]["file"] == "model.pt" and meta["origin"]["steps"] == 30


def test_a_resumed_run_keeps_where_its_model_file_started_it(tiny_run: Path,
                                                              tmp_path: Path) -> None:
    run = tmp_path / "run"
    _init_run(tiny_run, run, checkpoint_every=1)
    cfg = load_train_config(TINY, {"steps": 4, "init": ""})
    result = train(cfg, run, resume=True, progress=False)
    _, _, meta = load_model(result.model_path)
    assert meta["next_scene"] == 30 * 4 + 4 * 4
    assert meta["origin"]["steps"] == 30


def test_fit_settings_carry_over_only_at_the_same_crop_size(tiny_run: Path,
                                                           tmp_path: Path) -> None:
    start = tmp_path / "start.pt"
    shutil.copyfile(tiny_run / "model.pt", start)
    update_model_meta(start, fit={"hypotheses": 4})
    cfg = load_train_config(TINY, {"steps": 2, "init": str(start)})
    _, _, same = load_model(train(cfg, tmp_path / "same", progress=False).model_path)
    assert same["fit"] == {"hypotheses": 4}
    bigger = load_train_config(TINY, {"steps": 2, "init": str(start),
                                      "scene": {"height": 96, "width": 96}})
    _, _, other = load_model(train(bigger, tmp_path / "bigger", progress=False).model_path)
    assert "fit" not in other


def test_a_model_file_of_another_architecture_is_refused(tiny_run: Path,
                                                         tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="make the config's network match"):
        _init_run(tiny_run, tmp_path / "run", network={"widths": [8, 12, 16, 24, 32]})
