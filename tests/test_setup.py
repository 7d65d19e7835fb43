"""scripts/setup_env.sh, re-run on a checkout that is already set up, is a fast no-op."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

# Generous for 2 loaded CPU cores; a real re-install or message build takes minutes.
NOOP_SECONDS = 60


def _state(paths: list[Path]) -> dict[Path, tuple[str, int]]:
    """Content and modification time of each file."""
    return {path: (path.read_text(), path.stat().st_mtime_ns) for path in paths}


@pytest.mark.timeout(300)
def test_second_run_changes_nothing(repo_root: Path) -> None:
    pip_stamp = repo_root / ".venv" / ".nbf-pip.sha256"
    msg_stamp = repo_root / ".ros_install" / ".nbf-msgs.sha256"
    generated = sorted((repo_root / ".ros_install").glob("lib/python3*/site-packages/nbf_ros/msg"))
    watched = [pip_stamp, msg_stamp, *(folder / "_human_pose.py" for folder in generated)]
    if not generated or not all(path.is_file() for path in watched):
        message = "the checkout is not set up: run scripts/setup_env.sh (./nbf test does)"
        if os.environ.get("NBF_REQUIRE_ROS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    before = _state(watched)

    start = time.monotonic()
    result = subprocess.run(
        ["bash", str(repo_root / "scripts" / "setup_env.sh")],
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - start

    assert result.returncode == 0, result.stdout + result.stderr
    assert "[setup] python packages: up to date" in result.stdout
    assert "[setup] messages: up to date" in result.stdout
    assert "installing" not in result.stdout and "building" not in result.stdout
    assert _state(watched) == before
    assert elapsed < NOOP_SECONDS, f"no-op setup took {elapsed:.0f} s:\n{result.stdout}"
