"""Versioned .npz files: the container of the shipped body and kernel files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load_versioned", "save_versioned", "sub_arrays"]


def save_versioned(path: str | Path, fmt: str, version: int,
                   arrays: dict[str, np.ndarray]) -> None:
    """Write arrays with a format name and version to a compressed .npz."""
    np.savez_compressed(path, format=np.array(fmt), version=np.array(version), **arrays)


def load_versioned(path: str | Path, fmt: str, version: int, what: str) -> dict[str, np.ndarray]:
    """All arrays of a file written by ``save_versioned`` with this format and version;
    FileNotFoundError or ValueError (naming ``what`` the file should be) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a {what} file ({err})") from err
    with data:
        if not hasattr(data, "files") or "format" not in data or str(data["format"]) != fmt:
            raise ValueError(f"{path} is not a {what} file")
        if int(data["version"]) != version:
            raise ValueError(f"{path} has format version {int(data['version'])}; "
                             f"this nbf_ros reads version {version}")
        return {k: data[k] for k in data.files}


def sub_arrays(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays named ``prefix/<name>``, keyed by <name>."""
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}
