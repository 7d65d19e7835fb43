"""Linters run as tests (as in ros2/examples): ruff over the Python code, bash -n over scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIRS = ("nbf_ros", "tests", "bench", "scripts")
SHELL_SCRIPTS = ("nbf", "scripts/setup_env.sh", "scripts/env.sh", ".ci/run")


def test_ruff_finds_nothing(repo_root: Path) -> None:
    # Rules and line length come from [tool.ruff] in pyproject.toml.
    targets = [name for name in PYTHON_DIRS if (repo_root / name).is_dir()]
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", *targets]
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_shell_script_parses(repo_root: Path, script: str) -> None:
    result = subprocess.run(
        ["bash", "-n", str(repo_root / script)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
