"""A run's learning curve: the network's held-out readout at the end of each session.

The readout of ``nbf_ros.eval.network_eval`` without its fits (seconds, not an hour, on a
CPU): kernel accuracy within 10 cm, front/back, PCK@0.1 of visible joints and the regression
head's pelvis-aligned MPJPE on the held-out test people (seeds from 1,000,000,000), clean
and occluded, appended to ``heldout.csv`` with the step and the training time.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np

from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import SceneConfig
from nbf_ros.vision.network import FeatureNet

__all__ = ["HELDOUT_COLUMNS", "append_heldout", "heldout_readout"]

HELDOUT_COLUMNS = ("step", "seconds", "people")
_FIELDS = ("kernel_10cm", "front_back", "pck_visible", "regression_mm")


def heldout_readout(net: FeatureNet, volume: NeuralBodyVolume, mesh: BodyMesh,
                    scene: SceneConfig, people: int) -> dict[str, float]:
    """Readout figures on ``people`` clean and ``people`` occluded test people."""
    from nbf_ros.eval.network_eval import evaluate_condition

    was_training = net.training
    net.eval()
    out: dict[str, float] = {}
    try:
        for name, occluders in (("clean", 0.0), ("occluded", 1.0)):
            cfg = replace(scene, occluder_probability=occluders)
            res = evaluate_condition(net, volume, mesh, name, cfg, people, progress=False,
                                     fitting=False)
            out[f"{name}_kernel_10cm"] = res.kernel_accuracy_10cm
            out[f"{name}_front_back"] = res.front_back_accuracy
            out[f"{name}_pck_visible"] = res.pck_visible
            out[f"{name}_regression_mm"] = float(np.median(res.regression_mpjpe) * 1e3)
    finally:
        net.train(was_training)
    return out


def append_heldout(path: Path, step: int, seconds: float, people: int,
                   figures: dict[str, float]) -> None:
    """One row of the learning curve (the header first in a new file)."""
    columns = list(HELDOUT_COLUMNS) + [f"{c}_{f}" for c in ("clean", "occluded")
                                       for f in _FIELDS]
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(columns)
        row = {"step": step, "seconds": round(seconds, 1), "people": people, **figures}
        writer.writerow([f"{row[c]:.6g}" if isinstance(row[c], float) else row[c]
                         for c in columns])
