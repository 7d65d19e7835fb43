"""package.xml, CMakeLists.txt, pyproject.toml and requirements.txt agree with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import nbf_ros


@pytest.fixture(scope="module")
def package(repo_root: Path) -> Any:
    """package.xml as catkin_pkg (the parser rosdep, colcon and bloom use) reads it."""
    catkin_pkg = pytest.importorskip("catkin_pkg.package")
    return catkin_pkg.parse_package(str(repo_root / "package.xml"))


@pytest.fixture(scope="module")
def pyproject(repo_root: Path) -> dict[str, Any]:
    """pyproject.toml as a dict."""
    return tomllib.loads((repo_root / "pyproject.toml").read_text())


def message_packages(repo_root: Path) -> set[str]:
    """Packages whose types msg/*.msg use (`pkg/Type` field types)."""
    packages = set()
    for path in (repo_root / "msg").glob("*.msg"):
        for line in path.read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if words and "/" in words[0]:
                packages.add(words[0].split("/", 1)[0])
    return packages


class TestPackageXml:
    def test_is_a_valid_format_3_interface_package(self, package: Any) -> None:
        package.validate()  # raises on e.g. a maintainer email catkin_pkg rejects
        assert package.name == "nbf_ros"
        assert package.package_format == 3
        assert [str(license_) for license_ in package.licenses] == ["Apache-2.0"]
        assert [group.name for group in package.member_of_groups] == ["rosidl_interface_packages"]
        assert package.get_build_type() == "ament_cmake"

    def test_version_matches_python_package(self, package: Any) -> None:
        assert package.version == nbf_ros.__version__

    def test_message_dependencies_are_declared(self, package: Any, repo_root: Path) -> None:
        used = message_packages(repo_root)
        assert used == {"std_msgs", "geometry_msgs", "sensor_msgs"}
        assert used <= {dep.name for dep in package.build_depends}
        assert used <= {dep.name for dep in package.exec_depends}
        cmake = (repo_root / "CMakeLists.txt").read_text()
        declared = re.search(r"DEPENDENCIES([^)]*)\)", cmake)
        assert declared is not None and used <= set(declared.group(1).split())

    def test_runtime_dependencies_of_the_node(self, package: Any) -> None:
        run = {dep.name for dep in package.exec_depends}
        needed = {"rclpy", "lifecycle_msgs", "visualization_msgs", "diagnostic_msgs"}
        needed |= {"builtin_interfaces", "rosidl_default_runtime", "python3-numpy", "python3-yaml"}
        assert needed <= run


class TestRequirements:
    def pins(self, repo_root: Path) -> dict[str, str]:
        """requirements.txt as canonical name -> exact version."""
        pins = {}
        for line in (repo_root / "requirements.txt").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, sep, version = line.partition("==")
                assert sep and version, f"not an exact pin: {line!r}"
                pins[canonicalize_name(name)] = version
        return pins

    def test_torch_is_the_local_cpu_build(self, repo_root: Path) -> None:
        assert self.pins(repo_root)["torch"] == "2.13.0"

    def test_every_declared_dependency_is_pinned_compatibly(
        self, repo_root: Path, pyproject: dict[str, Any]
    ) -> None:
        project = pyproject["project"]
        extras = project["optional-dependencies"]
        declared = [*project["dependencies"], *extras["ros"], *extras["test"]]
        pins = self.pins(repo_root)
        for text in declared:
            requirement = Requirement(text)
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{requirement.name} is declared but not in requirements.txt"
            version = pins[name]
            assert requirement.specifier.contains(version, prereleases=True), (text, version)
