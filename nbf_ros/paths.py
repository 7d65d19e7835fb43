"""Where nbf_ros finds its shipped files (models/) in a source checkout and in a ROS install."""

from __future__ import annotations

from pathlib import Path

PACKAGE_NAME = "nbf_ros"


def source_root() -> Path | None:
    """Repository root if nbf_ros is imported from a source checkout, else None."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "package.xml").is_file() and (root / "msg").is_dir() else None


def share_dir() -> Path | None:
    """share/nbf_ros of a ROS install found through the ament index, else None."""
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError:  # plain Python install without the ROS wheels
        return None
    try:
        return Path(get_package_share_directory(PACKAGE_NAME))
    # PackageNotFoundError is a LookupError; OSError when AMENT_PREFIX_PATH is unset.
    except (LookupError, OSError, ValueError):
        return None


def model_dirs() -> list[Path]:
    """Existing models/ folders, the source tree's first so that local edits win."""
    candidates = [root / "models" for root in (source_root(), share_dir()) if root is not None]
    return [path for path in candidates if path.is_dir()]


def find_model_file(name: str) -> Path:
    """Path of models/<name> in the first folder of model_dirs() that holds it."""
    searched = model_dirs()
    for folder in searched:
        path = folder / name
        if path.is_file():
            return path
    where = ", ".join(str(folder) for folder in searched) or "no models/ folder found"
    raise FileNotFoundError(f"model file {name!r} not found (searched: {where})")


def find_config_file(name: str) -> Path:
    """Path of config/<name>, the source tree's first (as for models)."""
    roots = [root for root in (source_root(), share_dir()) if root is not None]
    for root in roots:
        path = root / "config" / name
        if path.is_file():
            return path
    where = ", ".join(str(root / "config") for root in roots) or "no config/ folder found"
    raise FileNotFoundError(f"config file {name!r} not found (searched: {where})")
