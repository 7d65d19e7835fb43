"""A full CMake install (what colcon does) yields one importable nbf_ros: sources + messages.

scripts/setup_env.sh installs only the messages and uses the source tree in place; this test
installs every component of the same build into a temporary prefix and imports from there
alone, with the source tree off the path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, nbf_ros, nbf_ros.cli, nbf_ros.paths
from nbf_ros.msg import HumanPose, HumanPoseArray
from rclpy.serialization import deserialize_message, serialize_message
message = HumanPoseArray(humans=[HumanPose(joint_names=["pelvis"], track_id=3)])
back = deserialize_message(serialize_message(message), HumanPoseArray)
print(json.dumps({
    "path": list(nbf_ros.__path__),
    "version": nbf_ros.__version__,
    "roundtrip": back == message,
    "share": str(nbf_ros.paths.share_dir()),
    "models": [str(path) for path in nbf_ros.paths.model_dirs()],
}))
"""


@pytest.fixture(scope="module")
def prefix(installed_prefix: Path) -> Path:
    """Every install component of .ros_build, installed into a fresh prefix."""
    return installed_prefix


def test_installed_package_imports_alone(prefix: Path, repo_root: Path) -> None:
    site = next(prefix.glob("lib/python3*/site-packages"))
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(site),  # the source tree is deliberately not on the path
        LD_LIBRARY_PATH=f"{prefix / 'lib'}:{env.get('LD_LIBRARY_PATH', '')}",
        AMENT_PREFIX_PATH=f"{prefix}:{repo_root / '.venv'}",
    )
    command = [sys.executable, "-c", PROBE]
    probe = subprocess.run(command, cwd=prefix, env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)

    assert found["path"] == [str(site / "nbf_ros")]  # sources and messages in one folder
    assert found["roundtrip"] is True
    assert found["share"] == str(prefix / "share" / "nbf_ros")
    assert found["models"] == [str(prefix / "share" / "nbf_ros" / "models")]


def test_source_init_replaces_generated_one(prefix: Path, repo_root: Path) -> None:
    # rosidl installs an empty nbf_ros/__init__.py; ours (extend_path, __version__) must win.
    site = next(prefix.glob("lib/python3*/site-packages"))
    installed = (site / "nbf_ros" / "__init__.py").read_text()
    assert installed == (repo_root / "nbf_ros" / "__init__.py").read_text()


def test_share_holds_package_xml_and_message_definitions(prefix: Path, repo_root: Path) -> None:
    share = prefix / "share" / "nbf_ros"
    assert (share / "package.xml").is_file()
    installed = sorted(path.name for path in (share / "msg").glob("*.msg"))
    assert installed == sorted(path.name for path in (repo_root / "msg").glob("*.msg"))
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "nbf_ros").is_file()


def test_installed_node_script_runs_the_python_of_the_build(prefix: Path, repo_root: Path) -> None:
    # `#!/usr/bin/env python3` would run whichever python3 is first on PATH, without the
    # packages the workspace was built for.
    cache = (repo_root / ".ros_build" / "CMakeCache.txt").read_text()
    python = next(line.split("=", 1)[1] for line in cache.splitlines()
                  if line.startswith("Python3_EXECUTABLE:"))
    script = prefix / "lib" / "nbf_ros" / "pose_node"
    assert script.read_text().splitlines()[0] == f"#!{python}"
    assert os.access(script, os.X_OK)
    assert (repo_root / "bin" / "pose_node").read_text().splitlines()[1:] == \
        script.read_text().splitlines()[1:]
