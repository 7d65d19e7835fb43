"""`nbf-ros demo`, the README's main job: usage errors are one line; a short run writes its
summary and picture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def demo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nbf_ros.cli", "demo", "--quiet", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(("args", "says"), [
    (["--param", "max_people=0"], "max_people must be in"),
    (["--param", "no_such=1"], "expected NAME=VALUE with NAME one of"),
    (["--frames", "0"], "--frames must be >= 1"),
])
def test_bad_arguments_are_one_line_errors(tmp_path: Path, args: list[str], says: str) -> None:
    result = demo("--out", str(tmp_path / "out"), *args, timeout=60)
    assert result.returncode == 2 and says in result.stderr
    assert "Traceback" not in result.stderr


def test_a_non_empty_output_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("user data")
    result = demo("--out", str(tmp_path), timeout=60)
    assert result.returncode == 2 and "not an empty folder" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "user data"


@pytest.mark.timeout(400)
def test_short_demo_writes_summary_and_picture(tmp_path: Path, ros_env: dict) -> None:  # noqa: ARG001 - ros_env: the replay makes its own domain
    out = tmp_path / "demo"
    result = demo("--out", str(out), "--frames", "10", "--param", "fit_iterations=5",
                  "--param", "tracking_iterations=3")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_sent"] == 10 and summary["frames_answered"] >= 1
    assert summary["latency_ms"]["p50"] > 0
    assert (out / "demo.png").stat().st_size > 10_000
    assert "| frames sent / answered | 10 /" in (out / "summary.md").read_text()
    assert "MPJPE" in result.stdout
