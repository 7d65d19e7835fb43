"""nbf_ros.paths finds the shipped models/ folder of a source checkout first."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbf_ros import paths


def test_source_root_is_this_checkout(repo_root: Path) -> None:
    assert paths.source_root() == repo_root


def test_checkout_models_come_first(repo_root: Path) -> None:
    assert paths.model_dirs()[0] == repo_root / "models"


def test_find_model_file_returns_the_first_match(repo_root: Path) -> None:
    assert paths.find_model_file("README.md") == repo_root / "models" / "README.md"


def test_missing_model_file_names_the_folders_searched(repo_root: Path) -> None:
    with pytest.raises(FileNotFoundError, match="'no_such_weights.pt' not found") as error:
        paths.find_model_file("no_such_weights.pt")
    assert str(repo_root / "models") in str(error.value)
