"""Reading pickles that should hold only numpy arrays and builtin containers, safely.

Unpickling runs whatever callable a file names, so files from elsewhere are read with an
unpickler that resolves only numpy's array-reconstruction globals; dicts, lists, tuples,
strings and numbers need no global at all. Anything else (a class, a function such as
``os.system``) is refused before it is called.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

# Reused so numpy 1's module names (numpy.core.*) resolve to numpy 2's numpy._core without
# the deprecation warning, exactly as for the SMPL model files.
from nbf_ros.body.smpl_format import _numpy_global
from nbf_ros.train.datasets.record import DatasetFormatError

__all__ = ["ALLOWED_GLOBALS", "read_array_pickle"]

# What an ndarray, its dtype and a numpy scalar pickle as, under numpy 1 and numpy 2 names.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
})


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that resolves only ``ALLOWED_GLOBALS`` and names the file when it refuses."""

    def __init__(self, file: Any, path: Path, what: str) -> None:
        # latin1 turns Python 2 byte strings (and numpy's raw array bytes) into str unchanged.
        super().__init__(file, encoding="latin1")
        self.path = path
        self.what = what

    def find_class(self, module: str, name: str) -> Any:
        """Resolve an allowed numpy global; refuse every other one."""
        if (module, name) in ALLOWED_GLOBALS:
            return _numpy_global(module, name)
        hint = ("; Python 3 writes bytes that way at protocol 2: re-save the file with "
                "pickle protocol 4" if (module, name) == ("_codecs", "encode") else "")
        raise DatasetFormatError(
            f"{self.path}: refusing to unpickle {module}.{name}; {self.what} holds only numpy "
            f"arrays, lists, dicts and strings{hint}"
        )


def read_array_pickle(path: str | os.PathLike[str], what: str = "this file") -> Any:
    """The object in a pickle of numpy arrays and builtin containers (Python 2 or 3)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    with open(path, "rb") as f:
        try:
            return _ArrayUnpickler(f, path, what).load()
        except DatasetFormatError:
            raise
        except Exception as exc:  # truncated or foreign files fail in many different ways
            raise DatasetFormatError(f"{path}: not a readable pickle ({exc})") from exc
