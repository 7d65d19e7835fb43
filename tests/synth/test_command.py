"""`nbf-ros synth`: datasets and bags from the command line; user errors exit 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nbf_ros import cli
from nbf_ros.io.bag_reader import read_frames
from nbf_ros.synth.dataset import load_scene


def nbf_ros_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `nbf-ros` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "nbf-ros"
    if not script.is_file():
        pytest.skip(f"no console script at {script}: install the package (pip install -e .)")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=300)


def run_main(args: list[str]) -> int:
    """cli.main's exit status, whether returned or raised as SystemExit."""
    try:
        return cli.main(args)
    except SystemExit as exc:
        return int(exc.code or 0)


def assert_one_line_error(stderr: str, message: str) -> None:
    assert stderr.startswith("nbf-ros synth: error: ") and message in stderr
    assert stderr.count("\n") == 1 and stderr.endswith("\n")
    assert "Traceback" not in stderr


def test_the_console_script_writes_a_dataset(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = nbf_ros_cli("synth", str(out), "--count", "2", "--size", "96", "64", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "wrote 2 scenes" in result.stdout
    assert "Traceback" not in result.stderr
    index = json.loads((out / "dataset.json").read_text())
    assert index["count"] == 2 and len(index["files"]) == 2
    scene = load_scene(out / index["files"][1])
    assert scene.image.shape == (64, 96, 3)  # --size is WIDTH HEIGHT
    assert scene.seed == 1
    assert (out / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_preview_zero_writes_no_picture(tmp_path: Path) -> None:
    out = tmp_path / "data"
    assert run_main(["synth", str(out), "--count", "1", "--size", "64", "64", "--preview", "0",
                     "--quiet"]) == 0
    assert (out / "dataset.json").is_file() and not (out / "preview.png").exists()


def test_bag_writes_a_video_with_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "video"
    status = run_main(["synth", str(out), "--bag", "--count", "2", "--size", "64", "48",
                       "--people", "0", "--occluders", "0", "--fps", "10", "--quiet"])
    assert status == 0
    assert "wrote 2 frames at 10 fps" in capsys.readouterr().out
    with read_frames(out) as reader:
        frames = list(reader)
    assert len(frames) == 2
    assert frames[0].rgb.shape == (48, 64, 3)
    assert frames[1].stamp_ns - frames[0].stamp_ns == 100_000_000
    assert all([p.track_id for p in frame.truth or []] == [1] for frame in frames)


def test_an_existing_empty_folder_receives_the_dataset(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert run_main(["synth", str(out), "--count", "1", "--size", "32", "32", "--quiet"]) == 0
    assert (out / "dataset.json").is_file() and (out / "scene_000000.npz").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--count", "0"], "--count must be at least 1"),
    (["--occluders", "2"], "--occluders must be a probability in [0, 1]"),
    (["--size", "16", "64"], "--size must be between 32 and 4096"),
    (["--people", "9"], "--people must be between 0 and 8"),
    (["--bag", "--fps", "0"], "--fps must be a positive"),
], ids=["count-0", "occluders-2", "size-16", "people-9", "fps-0"])
def test_bad_values_exit_2_with_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    assert run_main(["synth", str(out), "--quiet", *args]) == 2
    assert_one_line_error(capsys.readouterr().err, message)
    assert not out.exists()


def test_an_existing_dataset_folder_exits_2(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "dataset.json").write_text('{"count": 7}')
    assert run_main(["synth", str(out), "--count", "1", "--quiet"]) == 2
    assert_one_line_error(capsys.readouterr().err, "already exists")
    assert (out / "dataset.json").read_text() == '{"count": 7}'
    assert sorted(p.name for p in out.iterdir()) == ["dataset.json"]


def test_an_existing_bag_folder_exits_2(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "video"
    out.mkdir()
    assert run_main(["synth", str(out), "--bag", "--count", "1", "--quiet"]) == 2
    assert_one_line_error(capsys.readouterr().err, "already exists")


def test_an_existing_file_as_output_exits_2(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "notes.txt"
    out.write_text("keep me\n")
    assert run_main(["synth", str(out), "--count", "1", "--size", "32", "32", "--quiet"]) == 2
    assert_one_line_error(capsys.readouterr().err, "already exists")
    assert out.read_text() == "keep me\n"


def test_the_console_script_reports_a_bad_value_without_traceback(tmp_path: Path) -> None:
    result = nbf_ros_cli("synth", str(tmp_path / "out"), "--occluders", "2")
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "--occluders must be a probability")
    assert result.stdout == ""


def test_seed_and_occluder_options_reach_the_scenes(tmp_path: Path) -> None:
    out = tmp_path / "data"
    assert run_main(["synth", str(out), "--count", "1", "--size", "48", "48", "--seed", "9",
                     "--occluders", "1", "--quiet"]) == 0
    scene = load_scene(out / "scene_000000.npz")
    assert scene.seed == 9 and scene.occluder.any()
    np.testing.assert_array_equal(scene.kernel >= 0, scene.person >= 0)
