"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout under test."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def rclpy_module() -> ModuleType:
    """rclpy, or a skip with the reason when it does not import.

    `./nbf test` builds the ROS environment first and sets NBF_REQUIRE_ROS=1: there a missing
    rclpy is a broken setup, so the tests fail instead of skipping.
    """
    try:
        import rclpy
    except Exception as exc:  # a broken wheel install raises OSError, not only ImportError
        reason = (
            f"rclpy does not import ({type(exc).__name__}: {exc}); "
            "run the tests with ./nbf test, or source scripts/env.sh after scripts/setup_env.sh"
        )
        if os.environ.get("NBF_REQUIRE_ROS") == "1":
            pytest.fail(f"NBF_REQUIRE_ROS=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return rclpy
