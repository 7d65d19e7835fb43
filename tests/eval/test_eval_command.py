"""`nbf-ros eval`: bags in both storages evaluated offline against their ground truth, a live
replay through the node, and user mistakes reported in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from nbf_ros.io.bag_reader import list_topics, read_messages

FAST = ["--param", "fit_iterations=5", "--param", "tracking_iterations=3"]


def nbf_eval(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nbf_ros.cli", "eval", "--quiet", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module", params=["mcap", "sqlite3"])
def bag(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5-frame 320 x 240 synthetic bag with ground truth, in each storage."""
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.sequences import SequenceConfig, write_sequence_bag

    seq = SequenceConfig(frames=5, fps=10.0)
    seq = replace(seq, scene=replace(seq.scene, height=240, width=320, extra_people=1))
    path = tmp_path_factory.mktemp(request.param) / f"walk_{request.param}"
    write_sequence_bag(path, BodyMesh.default(), 3, seq, storage=request.param, progress=False)
    return path


@pytest.mark.timeout(300)
def test_offline_eval_writes_metrics_report_plots_and_a_results_bag(
        bag: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = nbf_eval(str(bag), "--out", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    figures = metrics["bags"][bag.name]
    assert figures["frames"] == 5 and figures["true_people"] >= 5
    assert figures["matched_people"] >= 1 and figures["mpjpe_mm"] > 0
    assert 0 <= figures["visibility_auc"] <= 1 or figures["visibility_auc"] is None
    assert (out / "plots.png").stat().st_size > 10_000
    assert f"| {bag.name} | 5 |" in (out / "report.md").read_text()
    results = Path(figures["results_bag"])
    topics = list_topics(results)
    assert {"/camera/image_raw", "/humans/poses", "/humans/markers",
            "/humans/debug_image"} <= set(topics)
    assert len(list(read_messages(results, "/humans/poses"))) == 5


@pytest.mark.timeout(300)
def test_offline_eval_is_deterministic(bag: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        assert nbf_eval(str(bag), "--out", str(tmp_path / name), *FAST,
                        "--max-frames", "2").returncode == 0
        runs.append(json.loads((tmp_path / name / "metrics.json").read_text())["all"])
    assert runs[0]["mpjpe_mm"] == runs[1]["mpjpe_mm"]


@pytest.mark.parametrize(("args", "says"), [
    (["--param", "fit_iterations=0"], "fit_iterations must be in"),
    (["--truth-topic", "/nope"], "topic '/nope' not found"),
    (["--mode", "live", "--rate", "0"], "--rate must be positive"),
])
def test_user_mistakes_are_one_line_errors(bag: Path, tmp_path: Path, args: list[str],
                                           says: str) -> None:
    result = nbf_eval(str(bag), "--out", str(tmp_path / "o"), *args, timeout=120)
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_that_is_not_a_bag_is_refused(tmp_path: Path) -> None:
    result = nbf_eval(str(tmp_path), "--out", str(tmp_path / "o"), timeout=60)
    assert result.returncode == 2 and "not a rosbag2 folder" in result.stderr
