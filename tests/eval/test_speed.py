"""`nbf-ros bench` measures every stage and writes its table (numbers are not asserted:
speed goals live in bench/results, not in tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_writes_a_row_per_setting_with_every_stage(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "nbf_ros.cli", "bench", "--quiet", "--device", "cpu",
               "--people", "1", "2", "--sizes", "640x480", "--frames", "1",
               "--no-reference", "--param", "fit_iterations=3", "--param",
               "tracking_iterations=2", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "speed_cpu.json").read_text())
    assert [(r["size"], r["people"]) for r in data["rows"]] == [("640x480", 1),
                                                                ("640x480", 2)]
    for row in data["rows"]:
        for stage in ("decode", "detect", "network", "fit", "message", "total"):
            assert row[stage]["p95"] >= row[stage]["p50"] >= 0
        assert row["fps"] > 0 and row["people_estimated"] == row["people"]
    # The engine that really ran (auto on the CPU: ONNX Runtime, where installed).
    assert data["engine"] in ("onnxruntime", "torch") and data["engine_description"]
    assert (tmp_path / "speed_cpu.png").stat().st_size > 5_000
    assert "| this project (warm start) | 640x480 | 2 |" in (tmp_path / "speed_cpu.md").read_text()


def test_engine_that_cannot_run_is_a_usage_error(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "nbf_ros.cli", "bench", "--device", "cpu", "--engine",
               "tensorrt", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "engine 'tensorrt' cannot run here" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_people_count_is_a_usage_error(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "nbf_ros.cli", "bench", "--people", "0", "--out",
               str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--people between 1 and 32" in done.stderr


def test_pipelined_bench_reports_rate_and_latency_beside_one_thread(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "nbf_ros.cli", "bench", "--quiet", "--device", "cpu",
               "--people", "2", "--sizes", "640x480", "--frames", "3", "--no-reference",
               "--pipelined", "--param", "fit_iterations=3", "--param",
               "tracking_iterations=2", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads((tmp_path / "speed_cpu.json").read_text())["rows"]
    two = row["pipelined"]
    assert two["fps"] > 0 and two["latency"]["p95"] >= two["latency"]["p50"] > 0
    table = (tmp_path / "speed_cpu.md").read_text()
    assert "| input | people | one thread: FPS | latency | pipelined: FPS | latency |" in table


def test_the_3dnbf_reference_keeps_its_schedule_over_the_models_stored_one() -> None:
    from nbf_ros.eval.speed import reference_pipeline
    from nbf_ros.node_settings import default_settings
    from nbf_ros.vision.network import STRIDE

    settings = dict(default_settings(), device="cpu", engine="torch")
    reference = reference_pipeline(settings)
    cfg = reference.fit_config
    # The shipped model stores root_iterations 0 for its own cold fits.
    assert reference.meta["fit"].get("root_iterations") == 0
    assert (cfg.iterations, cfg.root_iterations, cfg.coarse_fraction) == (120, 40, 0.0)
    assert cfg.tolerance < 0  # never stops early: always 120 steps
    assert reference.config.crop_size // STRIDE == 80  # an 80 x 80 render
