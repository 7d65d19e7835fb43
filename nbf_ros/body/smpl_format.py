"""SMPL model files: find, read (without chumpy), check, and convert to plain arrays.

SMPL's model files (Loper et al., 2015) are licensed and never shipped; users point the
``SMPLBody`` at their own copy. The official pickles were written by Python 2 and keep some
arrays as chumpy objects, and chumpy does not import on Python 3.11. This module reads them
anyway, with an unpickler that only resolves an allow-list of globals (numpy arrays, scipy
sparse matrices, builtin containers) and replaces every chumpy class by a stand-in.

How a chumpy object pickles (chumpy/ch.py, ``Ch.__getstate__``/``Ch.__setstate__``): by the
default object reduction, i.e. the class ``chumpy.ch.Ch`` is instantiated empty (the NEWOBJ
opcode for protocol 2, ``copy_reg._reconstructor`` for protocols 0/1) and its state is
restored from a dict: the instance ``__dict__`` without the unpicklable ``_parents``
and ``_cache``. For a plain ``Ch`` made from an array, that dict keeps the array (float64)
under ``"x"``, beside bookkeeping (``_dirty_vars``, ``_itr``, ``_depends_on_deps``,
``_make_dense``, ``_make_sparse``). Derived chumpy expressions (sums, products, ...) pickle
their operands instead and have no ``"x"``; they are refused with a message saying so.

Command line: ``python -m nbf_ros.body.smpl_format SRC.pkl DST.pkl`` writes a plain copy
(numpy arrays, J_regressor as a scipy CSC matrix) that smplx and this package load directly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from nbf_ros.body.joints import SMPL24_PARENTS, joint_index

__all__ = [
    "GENDERS",
    "REQUIRED_KEYS",
    "SMPLFormatError",
    "check_smpl_arrays",
    "convert_smpl_pickle",
    "main",
    "read_smpl_pickle",
    "resolve_smpl_path",
]

GENDERS: tuple[str, ...] = ("neutral", "male", "female")

# The arrays smplx.SMPL reads; other keys of the official files are kept but not needed.
REQUIRED_KEYS: tuple[str, ...] = (
    "v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f",
)

# File names that state a gender: smplx's (SMPL_MALE.pkl) and the official downloads'.
_GENDER_NAME = re.compile(r"(?i)(?:smpl|basicmodel)_(neutral|female|male|f|m)[_.]")

_NUM_JOINTS = len(SMPL24_PARENTS)
_NUM_POSE_FEATURES = 9 * (_NUM_JOINTS - 1)  # (R - I) of every non-root joint, flattened

# Allow-list of the globals that numpy, scipy.sparse and builtin containers need to unpickle,
# under both their Python 3 and Python 2 (official SMPL files) module names.
_NUMPY_MODULES = {
    "numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
    "numpy._core.numeric",
}
_NUMPY_NAMES = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"}
_SPARSE_NAMES = {
    "csc_matrix", "csr_matrix", "coo_matrix", "lil_matrix", "dok_matrix",
    "csc_array", "csr_array", "coo_array",
}
_BUILTINS = {
    ("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor"),
    ("builtins", "object"), ("__builtin__", "object"), ("builtins", "set"),
    ("__builtin__", "set"), ("builtins", "frozenset"), ("__builtin__", "frozenset"),
    ("builtins", "slice"), ("__builtin__", "slice"), ("builtins", "complex"),
    ("__builtin__", "complex"), ("collections", "OrderedDict"), ("_codecs", "encode"),
}


class SMPLFormatError(ValueError):
    """A file that is not a usable SMPL model pickle; the message names the file and why."""


class _ChumpyStandIn:
    """Holds the pickled state of a chumpy object without importing chumpy."""

    chumpy_class = "chumpy.ch.Ch"

    def __setstate__(self, state: Any) -> None:
        """Keep the state dict as pickled (the array of a plain Ch is ``state['x']``)."""
        self.state = state


def _stand_in(module: str, name: str) -> type:
    """A stand-in class that remembers which chumpy class it replaces."""
    return type(name, (_ChumpyStandIn,), {"chumpy_class": f"{module}.{name}"})


class _SMPLUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals and stands in for chumpy classes."""

    def __init__(self, file: Any, path: Path) -> None:
        # latin1 decodes the byte strings of Python 2 numpy pickles unchanged.
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        """Resolve a pickled global, refusing anything outside the allow-list."""
        if module == "chumpy" or module.startswith("chumpy."):
            return _stand_in(module, name)
        if module in _NUMPY_MODULES and name in _NUMPY_NAMES:
            return _numpy_global(module, name)
        if module.startswith("scipy.sparse") and name in _SPARSE_NAMES:
            # Old files name private modules (scipy.sparse.csc) that SciPy 2 removes.
            return getattr(sp, name)
        if (module, name) in _BUILTINS:
            return super().find_class(module, name)
        raise SMPLFormatError(
            f"{self.path}: refusing to unpickle {module}.{name}; an SMPL model file holds only "
            "numpy arrays, scipy sparse matrices, builtin values and chumpy arrays"
        )


def _numpy_global(module: str, name: str) -> Any:
    """Resolve a numpy global, mapping numpy 1's ``numpy.core`` to numpy 2's ``numpy._core``."""
    if module.startswith("numpy.core"):
        try:
            return getattr(importlib.import_module("numpy._core" + module[10:]), name)
        except (ImportError, AttributeError):
            pass
    return getattr(importlib.import_module(module), name)


def _unwrap(value: Any, where: str, path: Path) -> Any:
    """Replace chumpy stand-ins by their arrays, recursively through containers."""
    if isinstance(value, _ChumpyStandIn):
        state = value.state if isinstance(getattr(value, "state", None), dict) else {}
        if "x" not in state:
            raise SMPLFormatError(
                f"{path}: {where} is a chumpy expression ({value.chumpy_class}), not a stored "
                "array; evaluate it where chumpy works (Python <= 3.10: np.asarray(obj.r)) and "
                "save the array"
            )
        return np.asarray(_unwrap(state["x"], where, path))
    if isinstance(value, dict):
        return {k: _unwrap(v, f"{where}[{k!r}]", path) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, f"{where}[{i}]", path) for i, v in enumerate(value))
    return value


def resolve_smpl_path(model_path: str | os.PathLike[str], gender: str = "neutral") -> Path:
    """The SMPL pickle for a folder (``<folder>/smpl/SMPL_<GENDER>.pkl``) or a file path."""
    if gender not in GENDERS:
        raise ValueError(f"gender: expected one of {GENDERS}, got {gender!r}")
    path = Path(model_path).expanduser()
    if path.is_file():
        named = _gender_in_name(path.name)
        if named is not None and named != gender:
            # The gender becomes the published model name; a mismatch would rebuild wrong meshes.
            raise ValueError(f"gender={gender!r} but {path} is named as the {named} model; "
                             f"pass gender={named!r}")
        return path
    if not path.exists():
        raise FileNotFoundError(f"SMPL model path {path} does not exist")
    file_name = f"SMPL_{gender.upper()}.pkl"
    # smplx.create's layout first, then the folder smplx.SMPL itself accepts.
    candidates = (path / "smpl" / file_name, path / file_name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = sorted(str(p.relative_to(path)) for p in path.rglob("*.pkl"))[:5]
    hint = (f"; found {', '.join(found)}: rename or link the {gender} model to "
            f"smpl/{file_name}") if found else "; the folder holds no .pkl file"
    raise FileNotFoundError(
        f"SMPL model folder {path} has no {gender} model: expected "
        f"{' or '.join(str(c) for c in candidates)}{hint}"
    )


def _gender_in_name(file_name: str) -> str | None:
    """The gender that an SMPL file name states (SMPL_MALE.pkl, basicModel_f_lbs_...pkl)."""
    match = _GENDER_NAME.match(file_name)
    if match is None:
        return None
    word = match.group(1).lower()
    return {"m": "male", "f": "female"}.get(word, word)


def read_smpl_pickle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The contents of an SMPL pickle (plain or chumpy-based) with every array as numpy."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SMPL model file {path} does not exist")
    with open(path, "rb") as f:
        try:
            data = _SMPLUnpickler(f, path).load()
        except SMPLFormatError:
            raise
        except Exception as exc:  # any unpickling failure means the file is not a model
            raise SMPLFormatError(f"{path}: not a readable pickle ({exc})") from exc
    if not isinstance(data, dict):
        raise SMPLFormatError(f"{path}: expected a pickled dict, found {type(data).__name__}")
    return {str(k): _unwrap(v, f"key {k!r}", path) for k, v in data.items()}


def _shape_of(value: Any) -> tuple[int, ...] | None:
    """Shape of an array or sparse matrix, None for anything else."""
    if sp.issparse(value) or isinstance(value, np.ndarray):
        return tuple(value.shape)
    return None


def check_smpl_arrays(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Raise SMPLFormatError unless ``data`` holds SMPL's arrays with consistent shapes."""
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise SMPLFormatError(
            f"{path}: missing key(s) {', '.join(missing)}; an SMPL model needs "
            f"{', '.join(REQUIRED_KEYS)}"
        )
    shapes = {k: _shape_of(data[k]) for k in REQUIRED_KEYS}
    for key, shape in shapes.items():
        if shape is None:
            raise SMPLFormatError(
                f"{path}: key {key!r} holds a {type(data[key]).__name__}, expected an array"
            )
    v_template = shapes["v_template"]
    if len(v_template) != 2 or v_template[1] != 3:
        raise SMPLFormatError(f"{path}: 'v_template' has shape {v_template}, expected (V, 3)")
    num_v = v_template[0]
    num_s = shapes["shapedirs"][-1] if len(shapes["shapedirs"]) == 3 else 0
    expected = {
        "shapedirs": ((num_v, 3, num_s), "(V, 3, S) with S >= 1"),
        "posedirs": ((num_v, 3, _NUM_POSE_FEATURES), f"(V, 3, {_NUM_POSE_FEATURES})"),
        "J_regressor": ((_NUM_JOINTS, num_v), f"({_NUM_JOINTS}, V)"),
        "weights": ((num_v, _NUM_JOINTS), f"(V, {_NUM_JOINTS})"),
        "kintree_table": ((2, _NUM_JOINTS), f"(2, {_NUM_JOINTS})"),
    }
    for key, (shape, text) in expected.items():
        if shapes[key] != shape or num_s < 1:
            raise SMPLFormatError(
                f"{path}: {key!r} has shape {shapes[key]}, expected {text} with V={num_v} "
                "vertices from 'v_template'"
            )
    parents = np.asarray(data["kintree_table"])[0, 1:].astype(np.int64)
    if parents.tolist() != list(SMPL24_PARENTS[1:]):
        raise SMPLFormatError(
            f"{path}: 'kintree_table' parents {parents.tolist()} are not SMPL's 24-joint tree "
            f"{list(SMPL24_PARENTS[1:])}"
        )
    faces = np.asarray(data["f"])
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise SMPLFormatError(f"{path}: 'f' has shape {faces.shape} and dtype {faces.dtype}, "
                              "expected integer triangles (F, 3)")
    if faces.size and (faces.min() < 0 or faces.max() >= num_v):
        raise SMPLFormatError(f"{path}: 'f' indexes vertices outside 0..{num_v - 1}")
    row_sums = np.asarray(data["weights"]).sum(1)
    if not np.allclose(row_sums, 1.0, atol=1e-3):
        raise SMPLFormatError(f"{path}: 'weights' rows must sum to 1 (found {row_sums.min():.4f}"
                              f"..{row_sums.max():.4f})")
    _check_frame(data, path)


def _check_frame(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Raise unless the rest skeleton is in SMPL's frame: +Y up, +X body-left, +Z front."""
    joints = np.asarray(data["J_regressor"] @ np.asarray(data["v_template"]))  # [24, 3]
    at = {n: joints[joint_index(n)] for n in (
        "pelvis", "head", "left_hip", "right_hip", "left_ankle", "left_foot")}
    tests = {
        "head above pelvis (+Y up)": at["head"][1] > at["pelvis"][1],
        "left hip at +X": at["left_hip"][0] > at["right_hip"][0],
        "toes in front of ankles (+Z front)": at["left_foot"][2] > at["left_ankle"][2],
    }
    failed = [text for text, ok in tests.items() if not ok]
    if failed:
        raise SMPLFormatError(
            f"{path}: the rest skeleton is not in SMPL's frame (+Y up, +X body-left, "
            f"+Z front); not true: {', '.join(failed)}"
        )


def convert_smpl_pickle(
    src: str | os.PathLike[str], dst: str | os.PathLike[str]
) -> Path:
    """Write a chumpy-free copy of an SMPL pickle (numpy arrays, sparse J_regressor)."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"convert_smpl_pickle: dst {dst} is the source file; write a new file")
    data = read_smpl_pickle(src)
    check_smpl_arrays(data, src)
    data["J_regressor"] = sp.csc_matrix(data["J_regressor"])
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(data, f, protocol=4)  # protocol 4 loads on every Python 3 smplx supports
    os.replace(tmp, dst)  # never leave a half-written model behind
    return dst


def main(argv: list[str] | None = None) -> int:
    """Command line: convert an official (chumpy) SMPL pickle into a plain one."""
    parser = argparse.ArgumentParser(
        prog="python -m nbf_ros.body.smpl_format",
        description="Convert an SMPL model pickle with chumpy arrays into plain numpy arrays "
                    "(chumpy is not needed).",
    )
    parser.add_argument("src", type=Path, help="official SMPL .pkl (e.g. basicModel_*.pkl)")
    parser.add_argument("dst", type=Path, help="output .pkl (e.g. models/smpl/SMPL_NEUTRAL.pkl)")
    args = parser.parse_args(argv)
    try:
        out = convert_smpl_pickle(args.src, args.dst)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
