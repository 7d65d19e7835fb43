"""Fixtures of the ROS tests: every test here needs rclpy and the built nbf_ros messages."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _load_harness() -> ModuleType:
    """tests/ros/node_harness.py, registered as `node_harness` for the test modules to import
    (the suite imports test files by path, so their folder is not on sys.path)."""
    spec = importlib.util.spec_from_file_location(
        "node_harness", Path(__file__).resolve().parent / "node_harness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["node_harness"] = module
    spec.loader.exec_module(module)
    return module


ros_environment = _load_harness().ros_environment


@pytest.fixture(autouse=True)
def _needs_rclpy(rclpy_module: ModuleType) -> None:
    """Skip (or fail, see tests/conftest.py) every ROS test when rclpy does not import."""


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Folder of the helper scripts that the ROS tests start as separate processes."""
    return FIXTURES


@pytest.fixture(scope="session")
def nbf_msg(rclpy_module: ModuleType) -> ModuleType:
    """The generated nbf_ros.msg module (imported here, so that a missing rclpy skips)."""
    return importlib.import_module("nbf_ros.msg")


@pytest.fixture(scope="session")
def pose_sample(nbf_msg: ModuleType) -> ModuleType:
    """tests/ros/fixtures/pose_sample.py, the sample HumanPoseArray shared with the scripts."""
    spec = importlib.util.spec_from_file_location("pose_sample", FIXTURES / "pose_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def ros_env(tmp_path: Path) -> dict[str, str]:
    """ros_environment() for one test."""
    return ros_environment(tmp_path)


@pytest.fixture(scope="session")
def scene():  # noqa: ANN201 - a synth Scene
    """A small synthetic frame with one person in it."""
    from node_harness import HEIGHT, WIDTH

    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.scenes import SceneConfig, render_scene

    cfg = SceneConfig(height=HEIGHT, width=WIDTH, extra_people=0, occluder_probability=0.0,
                      subject_height=(0.7, 0.8), focal=(1.0, 1.2))
    return render_scene(BodyMesh.default(), 5, cfg)


@pytest.fixture(scope="session")
def installed_prefix(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every install component of .ros_build (what colcon installs), in a fresh prefix."""
    build = repo_root / ".ros_build"
    if not (build / "cmake_install.cmake").is_file():
        message = f"{build} is missing: run scripts/setup_env.sh (./nbf test does)"
        if os.environ.get("NBF_REQUIRE_ROS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    prefix = tmp_path_factory.mktemp("prefix")
    command = ["cmake", "--install", str(build), "--prefix", str(prefix)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return prefix


@pytest.fixture
def launch_env(repo_root: Path, installed_prefix: Path, tmp_path: Path) -> dict[str, str]:
    """node_harness.launch_environment for one test."""
    from node_harness import launch_environment

    return launch_environment(repo_root, installed_prefix, tmp_path)
