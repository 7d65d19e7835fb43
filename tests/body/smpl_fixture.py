"""Writes SMPL-format model files with synthetic content, for tests (the real ones are licensed).

The synthetic body is a set of closed tubes, one per bone of SMPL's 24-joint skeleton, placed
at roughly SMPL's neutral rest joints in SMPL's frame (+Y up, +Z front, +X left, rest pelvis
below the origin). Everything else has SMPL's structure and dtypes: skinning weights on the
bone's joint blended with its parent's near the joint, a sparse J_regressor averaging the ring
of vertices around each joint, a linear shape basis (V, 3, 10) and pose correctives
(V, 3, 207) that act only on vertices skinned to the rotating joint.

``write_chumpy_style_pickle`` writes the same arrays the way the official Python 2 files hold
them: as pickled ``chumpy.ch.Ch`` objects. A stand-in ``chumpy`` package lives in
``sys.modules`` only while the file is written, so readers later face a file whose pickled
class path is ``chumpy.ch.Ch`` with no chumpy importable.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from nbf_ros.body.joints import SMPL24_PARENTS

# Approximate rest joints of SMPL's neutral model, metres, SMPL frame (pelvis not at origin).
REST_JOINTS = np.array([
    [0.00, -0.22, 0.03], [0.06, -0.31, 0.02], [-0.06, -0.31, 0.02], [0.00, -0.11, 0.00],
    [0.10, -0.69, 0.01], [-0.10, -0.69, 0.01], [0.00, 0.03, 0.03], [0.09, -1.09, -0.03],
    [-0.09, -1.09, -0.03], [0.00, 0.09, 0.03], [0.12, -1.15, 0.09], [-0.12, -1.15, 0.09],
    [0.00, 0.29, 0.00], [0.08, 0.20, 0.01], [-0.08, 0.20, 0.01], [0.00, 0.36, 0.05],
    [0.17, 0.23, -0.02], [-0.17, 0.23, -0.02], [0.43, 0.21, -0.04], [-0.43, 0.21, -0.04],
    [0.68, 0.22, -0.04], [-0.68, 0.22, -0.04], [0.76, 0.21, -0.05], [-0.76, 0.21, -0.05],
])

# End points of the bones that leave the leaf joints (toes, top of head, finger tips).
_TIPS = {
    10: (0.12, -1.16, 0.17), 11: (-0.12, -1.16, 0.17), 15: (0.00, 0.56, 0.03),
    22: (0.86, 0.21, -0.05), 23: (-0.86, 0.21, -0.05),
}

# Tube radius of the bone ending at each joint (or leaving a leaf joint, for the tips).
_RADIUS = {
    1: 0.08, 2: 0.08, 3: 0.11, 4: 0.07, 5: 0.07, 6: 0.11, 7: 0.05, 8: 0.05, 9: 0.11,
    10: 0.045, 11: 0.045, 12: 0.05, 13: 0.05, 14: 0.05, 15: 0.06, 16: 0.05, 17: 0.05,
    18: 0.045, 19: 0.045, 20: 0.035, 21: 0.035, 22: 0.03, 23: 0.03,
}
_TIP_RADIUS = {10: 0.04, 11: 0.04, 15: 0.09, 22: 0.025, 23: 0.025}

# Module names of numpy and scipy globals today -> in files written by Python 2 (2015).
_PYTHON2_MODULES = {
    b"numpy._core.multiarray": b"numpy.core.multiarray",
    b"numpy._core.numeric": b"numpy.core.numeric",
    b"scipy.sparse._csc": b"scipy.sparse.csc",
}

NUM_BETAS = 10
NUM_POSE_FEATURES = 207


def _bones() -> list[tuple[int, np.ndarray, np.ndarray, float]]:
    """(rotating joint, start, end, radius) of every bone, tips last."""
    bones = [(SMPL24_PARENTS[c], REST_JOINTS[SMPL24_PARENTS[c]], REST_JOINTS[c], _RADIUS[c])
             for c in range(1, 24)]
    bones += [(j, REST_JOINTS[j], np.array(tip), _TIP_RADIUS[j]) for j, tip in _TIPS.items()]
    return bones


def _tube(
    start: np.ndarray, end: np.ndarray, radius: float, rings: int, sides: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closed tube: vertices [R*S+2, 3], faces, position t along the bone, radial unit vectors."""
    axis = end - start
    direction = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(direction[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    u = np.cross(direction, helper)
    u /= np.linalg.norm(u)
    w = np.cross(direction, u)
    t = np.linspace(0.0, 1.0, rings)
    theta = 2 * np.pi * np.arange(sides) / sides
    radial = np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * w  # [S, 3]
    rings_xyz = start + t[:, None, None] * axis + radius * radial[None]  # [R, S, 3]
    caps = np.stack((start - 0.5 * radius * direction, end + 0.5 * radius * direction))
    verts = np.concatenate((rings_xyz.reshape(-1, 3), caps))
    faces = []
    for i in range(rings - 1):
        for k in range(sides):
            a, b = i * sides + k, i * sides + (k + 1) % sides
            faces += [(a, b, b + sides), (a, b + sides, a + sides)]
    first, last, cap0 = 0, (rings - 1) * sides, rings * sides
    for k in range(sides):
        k1 = (k + 1) % sides
        faces += [(cap0, first + k1, first + k), (cap0 + 1, last + k, last + k1)]
    t_all = np.concatenate((np.repeat(t, sides), [0.0, 1.0]))
    radial_all = np.concatenate((np.tile(radial, (rings, 1)), np.zeros((2, 3))))
    return verts, np.array(faces), t_all, radial_all


def build_smpl_arrays(rings: int = 4, sides: int = 6, seed: int = 0) -> dict[str, Any]:
    """Synthetic SMPL model arrays: keys, shapes and dtypes of the official pickles."""
    rng = np.random.default_rng(seed)
    verts, faces, owner, t_all, radial_all, ring_of = [], [], [], [], [], {}
    for rotating, start, end, radius in _bones():
        v, f, t, radial = _tube(start, end, radius, rings, sides)
        base = sum(len(x) for x in verts)
        # The first ring is centred on the joint, so its mean is the joint: SMPL's regressor.
        ring_of.setdefault(rotating, base + np.arange(sides))
        verts.append(v)
        faces.append(f + base)
        owner.append(np.full(len(v), rotating))
        t_all.append(t)
        radial_all.append(radial)
    v_template = np.concatenate(verts)
    owner = np.concatenate(owner)
    t_all = np.concatenate(t_all)
    num_v = len(v_template)

    # Skinning: the bone's joint, blended half-half with its parent at the joint itself.
    weights = np.zeros((num_v, 24))
    ramp = np.clip(t_all / 0.3, 0.0, 1.0)
    blend = 0.5 + 0.5 * ramp * ramp * (3 - 2 * ramp)
    parent = np.array(SMPL24_PARENTS)[owner]
    has_parent = parent >= 0
    weights[np.arange(num_v), owner] = np.where(has_parent, blend, 1.0)
    weights[np.arange(num_v)[has_parent], parent[has_parent]] = 1.0 - blend[has_parent]

    regressor = sp.lil_matrix((24, num_v))
    for joint, ring in ring_of.items():
        regressor[joint, ring] = 1.0 / sides

    shapedirs = rng.normal(0.0, 0.003, (num_v, 3, NUM_BETAS))
    shapedirs[:, :, 0] = 0.03 * v_template  # taller/shorter about SMPL's origin: moves the pelvis
    shapedirs[:, :, 1] = 0.01 * np.concatenate(radial_all)  # thicker/thinner limbs

    # Pose correctives only where the rotating joint skins the vertex (SMPL's are local too).
    posedirs = rng.normal(0.0, 0.005, (num_v, 3, 23, 9))
    posedirs *= (weights[:, 1:] > 0)[:, None, :, None]

    kintree = np.array([SMPL24_PARENTS, range(24)], dtype=np.int64)
    kintree[0, 0] = 2**32 - 1  # the official files store the root's parent as uint32 -1
    return {
        "v_template": v_template,
        "shapedirs": shapedirs,
        "posedirs": posedirs.reshape(num_v, 3, NUM_POSE_FEATURES),
        "J_regressor": regressor.tocsc(),
        "weights": weights,
        "kintree_table": kintree.astype(np.uint32),
        "f": np.concatenate(faces).astype(np.uint32),
        "J": regressor.tocsc() @ v_template,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def write_smpl_pickle(path: str | Path, arrays: dict[str, Any]) -> Path:
    """Write arrays as a plain (chumpy-free) SMPL pickle."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(arrays, f, protocol=2)
    return path


def write_smpl_folder(root: str | Path, gender: str = "neutral", **build: Any) -> Path:
    """Write ``<root>/smpl/SMPL_<GENDER>.pkl`` (smplx's layout); returns the file."""
    return write_smpl_pickle(Path(root) / "smpl" / f"SMPL_{gender.upper()}.pkl",
                             build_smpl_arrays(**build))


@contextlib.contextmanager
def _fake_chumpy() -> Iterator[types.SimpleNamespace]:
    """Stand-in ``chumpy.ch.Ch`` and ``chumpy.ch_ops.add`` registered only inside the block."""

    class Ch:
        """Pickles like chumpy's Ch: its __dict__ without _parents and _cache, array in x."""

        def __init__(self, x: Any) -> None:
            self.__dict__.update(
                x=np.asarray(x, np.float64), _dirty_vars=set(), _itr=None,
                _depends_on_deps={}, _make_dense=False, _make_sparse=False,
                _parents={}, _cache={"r": None, "drs": {}},
            )

        def __getstate__(self) -> dict[str, Any]:
            state = dict(self.__dict__)
            del state["_parents"], state["_cache"]
            return state

    class add(Ch):  # noqa: N801 - chumpy's own class name
        """Pickles like a chumpy expression: operands, no stored array."""

        def __init__(self, a: Ch, b: Ch) -> None:
            super().__init__(0.0)
            del self.__dict__["x"]
            self.__dict__.update(a=a, b=b)

    package = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")
    ch_ops = types.ModuleType("chumpy.ch_ops")
    Ch.__module__, Ch.__qualname__, ch.Ch = "chumpy.ch", "Ch", Ch
    add.__module__, add.__qualname__, ch_ops.add = "chumpy.ch_ops", "add", add
    package.ch, package.ch_ops = ch, ch_ops
    names = ("chumpy", "chumpy.ch", "chumpy.ch_ops")
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update(zip(names, (package, ch, ch_ops), strict=True))
    try:
        yield types.SimpleNamespace(Ch=Ch, add=add)
    finally:
        for n in names:
            if saved[n] is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = saved[n]


def write_chumpy_style_pickle(
    path: str | Path,
    arrays: dict[str, Any],
    chumpy_keys: tuple[str, ...] = ("v_template", "shapedirs", "posedirs", "weights", "J"),
    expression_key: str | None = None,
    protocol: int = 2,
) -> Path:
    """Write arrays as the official files do: some of them as pickled ``chumpy.ch.Ch``.

    Protocols 0 and 2 are the ones Python 2 wrote, and numpy and scipy globals get the module
    names of that time (``numpy.core.multiarray``, ``scipy.sparse.csc``), which are gone or
    deprecated today. ``expression_key`` stores that key as a chumpy sum of two arrays
    instead, which has no stored array and cannot be read without chumpy.
    """
    if protocol > 2:
        raise ValueError("protocol: Python 2 wrote protocols 0 to 2")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _fake_chumpy() as chumpy:
        data = dict(arrays)
        for key in chumpy_keys:
            data[key] = chumpy.Ch(arrays[key])
        if expression_key is not None:
            half = chumpy.Ch(np.asarray(arrays[expression_key]) / 2)
            data[expression_key] = chumpy.add(half, half)
        raw = pickle.dumps(data, protocol=protocol)
    # Protocols 0-2 name globals as "c<module>\n<name>\n" text, so renaming is a replace.
    for new, old in _PYTHON2_MODULES.items():
        raw = raw.replace(b"c" + new + b"\n", b"c" + old + b"\n")
    path.write_bytes(raw)
    return path
