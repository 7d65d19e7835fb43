"""Point the ROS wheels' CMake exports at this interpreter's Python and numpy headers.

The PyPI ros-* wheels were built under /opt/python/cp311-cp311 and their exported CMake
targets keep that machine's include folders; configuring a package against them fails until
those paths name folders that exist here. Idempotent: files already fixed are left alone.
Usage: python fix_ros_wheel_cmake.py <prefix>   (the venv holding the wheels)
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

# Build-machine folders as they appear in the exports (any cp3XX tag, so a future
# Python version of the wheels is handled the same way).
_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/(?:_core|core)/include"
)
_PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")


def fix_text(text: str, python_include: str, numpy_include: str) -> str:
    """Text with the build machine's include folders replaced by the given ones."""
    # numpy first: its path would not match the Python pattern, but keep the order explicit.
    text = _NUMPY_INCLUDE.sub(numpy_include, text)
    return _PYTHON_INCLUDE.sub(python_include, text)


def fix_prefix(prefix: Path) -> int:
    """Rewrite every share/**/*.cmake under prefix that needs it; number of files changed."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    if not (Path(python_include) / "Python.h").is_file():
        sys.exit(
            f"error: {python_include}/Python.h is missing: install this Python's headers "
            "(Debian: apt-get install python3.11-dev)"
        )
    changed = 0
    for path in sorted((prefix / "share").rglob("*.cmake")):
        text = path.read_text(encoding="utf-8")
        fixed = fix_text(text, python_include, numpy_include)
        if fixed != text:
            path.write_text(fixed, encoding="utf-8")
            changed += 1
    return changed


def main() -> None:
    """Fix the prefix named on the command line and report how many files changed."""
    if len(sys.argv) != 2:
        sys.exit(f"usage: {Path(sys.argv[0]).name} <prefix>")
    print(fix_prefix(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
