"""One version: nbf_ros.__version__ is the source, pyproject.toml reads it, and package.xml
and the newest CHANGELOG.rst entry (ROS format, read by catkin_pkg as bloom reads it)
repeat it."""

from __future__ import annotations

import tomllib
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import nbf_ros


@pytest.fixture(scope="module")
def changelog(repo_root: Path) -> Any:
    """CHANGELOG.rst as catkin_pkg parses it (REP-132)."""
    parser = pytest.importorskip("catkin_pkg.changelog")
    with warnings.catch_warnings():  # catkin_pkg calls a docutils method docutils deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        parsed = parser.get_changelog_from_path(str(repo_root / "CHANGELOG.rst"), "nbf_ros")
    assert parsed is not None, "CHANGELOG.rst is missing or unreadable"
    return parsed


def test_pyproject_takes_the_version_from_the_package(repo_root: Path) -> None:
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "nbf_ros.__version__"}


def test_package_xml_repeats_the_version(repo_root: Path) -> None:
    version = ET.parse(repo_root / "package.xml").getroot().findtext("version")
    assert version == nbf_ros.__version__


def test_the_newest_changelog_entry_is_this_version(changelog: Any) -> None:
    newest, date, content = next(changelog.foreach_version(reverse=True))
    assert newest == nbf_ros.__version__
    assert content, "the newest entry has no items"


def test_the_changelog_is_titled_for_this_package(repo_root: Path) -> None:
    lines = (repo_root / "CHANGELOG.rst").read_text().splitlines()
    assert lines[1] == "Changelog for package nbf_ros"
    assert lines[0] == lines[2] == "^" * len(lines[1])

