"""What holds the fit back: the features, the start, or the feature resolution?

    python bench/feature_oracle.py [--model M] [--count 24]

Occluded single people of the validation seeds (as bench/fit_settings.py). Besides the
model's own features, each person gets oracle features, what a perfect network would give:
each feature cell shows the true pose's feature of the kernel the scene renderer put
there, and a clutter feature where the body is hidden or absent. Fits start from the
regression head, from a start near the truth (20 degrees per joint, 10 degrees and 10 cm
at the root, as bench/recovery.py) or from the truth itself, at the network's feature
resolution (stride 4: 32 x 32 cells for a 128 px crop) or at twice it (stride 2, oracle
only). They run the model's stored objective without the keypoint term (which would mix
in the network's keypoints) and without the anchor to the start (which would hold a fit
near a start it should leave): the feature likelihood and the pose prior. The step
schedule is the shipped one (lr 0.04, half the steps on a half-resolution level) or a
gentler one (lr 0.01, fine level only).

Writes bench/results/feature_oracle.md and .json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_settings import VALIDATION_SEED, errors_mm  # noqa: E402
from record import RESULTS, environment  # noqa: E402

from nbf_ros.fitting.config import FitConfig  # noqa: E402
from nbf_ros.fitting.fitter import Fitter  # noqa: E402
from nbf_ros.fitting.state import BodyState  # noqa: E402
from nbf_ros.nbv.camera import CropCamera  # noqa: E402
from nbf_ros.nbv.renderer import RenderConfig  # noqa: E402
from nbf_ros.nbv.volume import NeuralBodyVolume  # noqa: E402
from nbf_ros.synth.feature_scenes import perturb  # noqa: E402
from nbf_ros.synth.mesh import BodyMesh  # noqa: E402
from nbf_ros.synth.scenes import Scene, SceneConfig, render_scene  # noqa: E402
from nbf_ros.train.synthetic import collate_scenes, scene_tensors  # noqa: E402
from nbf_ros.vision.readout import read_crops  # noqa: E402
from nbf_ros.vision.weights import (  # noqa: E402
    DEFAULT_MODEL,
    fit_settings,
    load_model,
    resolve_model_path,
)

GENTLE = {"lr": 0.01, "coarse_fraction": 0.0}
# name: (features, start, stride, schedule overrides)
RUNS: dict[str, tuple[str, str, int, dict]] = {
    "model features, from the regression": ("model", "regression", 4, {}),
    "model features, from the regression, gentle": ("model", "regression", 4, GENTLE),
    "oracle, from the regression": ("oracle", "regression", 4, {}),
    "oracle, from the regression, gentle": ("oracle", "regression", 4, GENTLE),
    "oracle, from near the truth": ("oracle", "near", 4, {}),
    "oracle, from near the truth, gentle": ("oracle", "near", 4, GENTLE),
    "oracle, from near the truth, gentle, stride 2": ("oracle", "near", 2, GENTLE),
    "oracle, from the truth": ("oracle", "truth", 4, {}),
    "oracle, from the truth, gentle": ("oracle", "truth", 4, GENTLE),
}


def oracle_features(volume: NeuralBodyVolume, scenes: list[Scene], truth: BodyState,
                    stride: int) -> tuple[torch.Tensor, CropCamera]:
    """[B, H*W, D] unit features a perfect network would give at ``stride``, and the
    camera of their cells."""
    c = stride // 2  # a cell reads the pixel at its centre, as training labels do
    kernel = torch.as_tensor(np.stack([s.kernel[c::stride, c::stride] for s in scenes]))
    size = kernel.shape[1]
    kernel = kernel.long().flatten(1)  # -1 where no visible body
    kernels = volume.kernel_features(volume.pose(truth.rotations, truth.translation,
                                                 truth.shape))  # [B, K, D]
    body = kernels[torch.arange(len(kernel))[:, None], kernel.clamp_min(0)]
    # Hidden and background cells show clutter, spread over the bank as real clutter is.
    bank = volume.clutter[torch.arange(kernel.shape[1]) % len(volume.clutter)]
    features = F.normalize(torch.where((kernel >= 0)[..., None], body, bank[None]), dim=-1)
    K = torch.as_tensor(np.stack([s.K for s in scenes]), dtype=torch.float32)
    K[:, :2] /= stride
    return features, CropCamera(K, size, size)


def main(argv: list[str] | None = None) -> int:
    """Run every fit of RUNS on the validation people; report."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model file or models/ name")
    parser.add_argument("--count", type=int, default=24, help="validation people")
    args = parser.parse_args(argv)
    model = resolve_model_path(args.model)
    net, volume, meta = load_model(model, torch.device("cpu"))
    config = SceneConfig(height=128, width=128, occluder_probability=1.0, extra_people=0)
    mesh = BodyMesh.default()
    scenes = [render_scene(mesh, VALIDATION_SEED + i, config)
              for i in tqdm(range(args.count), desc="scenes")]
    batch = collate_scenes([scene_tensors(s, 1) for s in scenes])
    truth = BodyState(batch["rotations"][:, 0], batch["translation"][:, 0],
                      batch["shape"][:, 0])
    with torch.no_grad():
        read = read_crops(net(batch["image"]), batch["K"], volume)
    starts = {"regression": read.regression, "truth": truth,
              "near": perturb(truth, volume.body.joint_names, torch.Generator().manual_seed(0))}
    joints = batch["joints"][:, 0]
    settings = dict(fit_settings(meta), keypoint_weight=0.0, anchor_weight=0.0)
    base = dataclasses.replace(FitConfig(render=RenderConfig(opacity=meta["render_opacity"])),
                               **settings)
    near = starts["near"]
    rows = {"regression head (no fit)": errors_mm(read.regression_joints, joints),
            "start near the truth (no fit)": errors_mm(
                volume.body(near.rotations, near.translation, near.shape).joints, joints)}
    for name, (source, start, stride, schedule) in tqdm(RUNS.items(), desc="fits"):
        if source == "model":
            features, camera = read.features, read.camera
        else:
            features, camera = oracle_features(volume, scenes, truth, stride)
        fitter = Fitter(volume, dataclasses.replace(base, **schedule))
        rows[name] = errors_mm(fitter.fit(features, camera, starts[start]).joints, joints)
    entry = {"model": model.name, "environment": environment(torch.device("cpu")),
             "people": args.count, "seed": VALIDATION_SEED, "objective": settings,
             "gentle": GENTLE, "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "feature_oracle.json").write_text(json.dumps(entry, indent=2) + "\n")
    (RESULTS / "feature_oracle.md").write_text(_markdown(entry))
    print(_markdown(entry))
    return 0


def _markdown(entry: dict) -> str:
    """The table of feature_oracle.md."""
    env = entry["environment"]
    lines = [f"# What holds the fit back ({entry['model']}, {env['date']}, {env['device']})",
             "", f"`python bench/feature_oracle.py`: {entry['people']} occluded single people "
             f"of the validation seeds (from {entry['seed']}); objective {entry['objective']}; "
             f"\"gentle\" is {entry['gentle']} instead of the shipped lr 0.04 with half the "
             "steps on a half-resolution level. Oracle features: each cell shows the true "
             "pose's feature of the kernel rendered there, clutter where the body is hidden "
             "or absent. Stride 4 is the network's (32 x 32 cells), stride 2 twice as fine. "
             "Pelvis-aligned MPJPE and PA-MPJPE, mm.", "",
             "| features, start, schedule | median MPJPE | mean MPJPE | median PA-MPJPE |",
             "|---|---|---|---|"]
    for name, row in entry["rows"].items():
        lines.append(f"| {name} | {row['median_mm']:.1f} | {row['mean_mm']:.1f} | "
                     f"{row['pa_median_mm']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
