"""Fixtures of the ROS tests: every test here needs rclpy and the built nbf_ros messages."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


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
    """Environment for ROS processes of one test run, isolated from any other DDS traffic.

    The domain id comes from this process id (1..101), so parallel runs on one machine use
    different domains; discovery stays on this host (ROS_AUTOMATIC_DISCOVERY_RANGE since
    Jazzy/Kilted, ROS_LOCALHOST_ONLY for older distributions). Logs go to tmp_path.
    """
    env = dict(os.environ)
    env.update(
        ROS_DOMAIN_ID=str(1 + os.getpid() % 101),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        ROS_LOCALHOST_ONLY="1",
        ROS_LOG_DIR=str(tmp_path / "ros_log"),
        PYTHONUNBUFFERED="1",
    )
    return env
