"""Accuracy of a feature model on held-out synthetic people: what its model card reports.

For single-person scenes of a test seed range (disjoint from training's), measures:
- kernel correspondence: share of body cells whose feature is nearest (over all kernels in
  the true pose) to the true kernel, and to a kernel within 10 cm of it;
- front/back: share of body cells whose feature is nearer the true kernel's than the
  feature the body's depth twin shows there (``nbf_ros.synth.depth_twin``: the body turned
  to face the other way with left and right swapped, which covers the same pixels), where
  the two kernels are over 10 cm apart. A fit can only choose the right turn of a person
  where the features tell these apart;
- 2D keypoints: PCK@0.1 (error under 10% of the body box's longer side), visible and
  occluded joints apart;
- 3D: MPJPE (pelvis-aligned) and PA-MPJPE of the regression head alone and of NBV fitting
  started from it, with and without the occlusion model, and of the same fit with the
  feature term off (keypoints and priors only: what the NBV features add).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from nbf_ros.eval.metrics import mpjpe, pa_mpjpe
from nbf_ros.fitting.config import FitConfig
from nbf_ros.fitting.fitter import Fitter
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.progress import tqdm
from nbf_ros.synth.depth_twin import (
    front_back_hits,
    mirror_kernels,
    twin_features,
)
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import SceneConfig
from nbf_ros.synth.truth import JointLabel
from nbf_ros.train.losses import kernel_neighbours
from nbf_ros.train.synthetic import STRIDE, SyntheticScenes, collate_scenes
from nbf_ros.vision.network import FeatureNet
from nbf_ros.vision.readout import CropReadout, read_crops
from nbf_ros.vision.turn_head import TurnHead, read_turn

__all__ = ["TEST_SEED", "ConditionResult", "evaluate_condition"]

TEST_SEED = 1_000_000_000  # training runs use seeds far below this


@dataclass
class ConditionResult:
    """Per-person figures for one test condition (arrays over people)."""

    name: str
    kernel_accuracy: float  # share of body cells
    kernel_accuracy_10cm: float
    # Share of body cells nearer the true kernel than the depth twin's (cells where the
    # twin's kernel lies within 10 cm of the true one are not scored).
    front_back_accuracy: float
    pck_visible: float
    pck_occluded: float  # nan when no joint is occluded
    regression_mpjpe: np.ndarray  # [N] metres
    regression_pa: np.ndarray
    fit_mpjpe: np.ndarray  # the fits' arrays are empty when fitting was skipped
    fit_pa: np.ndarray
    plain_fit_mpjpe: np.ndarray  # fitting without the occlusion model
    keypoint_fit_mpjpe: np.ndarray  # fitting with the feature term off
    occluded_share: np.ndarray  # [N] share of the body hidden by occluders
    seconds: float  # fitting time of the full (robust) fits


def _accumulate(counts: dict[str, list[float]], key: str, hits: torch.Tensor) -> None:
    counts.setdefault(key, [0.0, 0.0])
    counts[key][0] += float(hits.sum())
    counts[key][1] += float(hits.numel())


def evaluate_condition(
    net: FeatureNet, volume: NeuralBodyVolume, mesh: BodyMesh, name: str, scene: SceneConfig,
    count: int, seed: int = TEST_SEED, batch: int = 25, fit: FitConfig | None = None,
    progress: bool = True, fitting: bool = True, turn_head: TurnHead | None = None,
) -> ConditionResult:
    """Evaluate on ``count`` single-person scenes seed, seed + 1, ... of ``scene`` (the
    network's readout only when ``fitting`` is False; ``turn_head``: the model file's, which
    the fits' choice among turned starts weighs as the pipeline's does)."""
    device = volume.sigma.device
    scene = replace(scene, extra_people=0)
    data = SyntheticScenes(mesh, seed, count, scene, twins=True)
    neighbours = kernel_neighbours(volume, 0.1)
    mirror = mirror_kernels(volume)
    fit = fit or FitConfig()
    fitter = Fitter(volume, fit)
    weigh_turn = turn_head is not None and fit.weighs_turn
    plain = replace(fit, robust=False)
    no_features = replace(fit, feature_weight=0.0)
    counts: dict[str, list[float]] = {}
    rows: dict[str, list[torch.Tensor]] = {k: [] for k in (
        "reg", "reg_pa", "fit", "fit_pa", "plain", "kp", "occ")}
    seconds = 0.0
    starts = range(0, count, batch)
    for start in tqdm(starts, desc=name, disable=not progress):
        items = [data[i] for i in range(start, min(count, start + batch))]
        b = {k: v.to(device) for k, v in collate_scenes(items).items()}
        with torch.no_grad():
            read, scores = _read_batch(net, volume, b, neighbours, mirror,
                                       turn_head if weigh_turn else None)
        for key, hits in scores.items():
            _accumulate(counts, key, hits)
        gt = b["joints"][:, 0]
        rows["reg"].append(mpjpe(read.regression_joints, gt).cpu())
        rows["reg_pa"].append(pa_mpjpe(read.regression_joints, gt).cpu())
        occl = torch.tensor([_hidden_share(items[i]) for i in range(len(items))])
        rows["occ"].append(occl)
        if not fitting:
            continue
        tic = time.perf_counter()
        res = fitter.fit(read.features, read.camera, read.regression, read.keypoints,
                         read.keypoint_confidence, turn=read.turn)
        seconds += time.perf_counter() - tic
        rows["fit"].append(mpjpe(res.joints, gt).cpu())
        rows["fit_pa"].append(pa_mpjpe(res.joints, gt).cpu())
        res_plain = fitter.fit(read.features, read.camera, read.regression, read.keypoints,
                               read.keypoint_confidence, config=plain, turn=read.turn)
        rows["plain"].append(mpjpe(res_plain.joints, gt).cpu())
        res_kp = fitter.fit(read.features, read.camera, read.regression, read.keypoints,
                            read.keypoint_confidence, config=no_features, turn=read.turn)
        rows["kp"].append(mpjpe(res_kp.joints, gt).cpu())
    cat = {k: torch.cat(v).numpy() if v else np.zeros(0, np.float32) for k, v in rows.items()}
    rate = {k: (v[0] / v[1] if v[1] else float("nan")) for k, v in counts.items()}
    return ConditionResult(
        name=name, kernel_accuracy=rate["kernel"], kernel_accuracy_10cm=rate["kernel10"],
        front_back_accuracy=rate.get("front_back", float("nan")), pck_visible=rate["pck_vis"],
        pck_occluded=rate.get("pck_occ", float("nan")), regression_mpjpe=cat["reg"],
        regression_pa=cat["reg_pa"], fit_mpjpe=cat["fit"], fit_pa=cat["fit_pa"],
        plain_fit_mpjpe=cat["plain"], keypoint_fit_mpjpe=cat["kp"], occluded_share=cat["occ"],
        seconds=seconds)


def _read_batch(net: FeatureNet, volume: NeuralBodyVolume, b: dict[str, torch.Tensor],
                neighbours: torch.Tensor, mirror: torch.Tensor, turn_head: TurnHead | None = None
                ) -> tuple[CropReadout, dict[str, torch.Tensor]]:
    """Network readout of a batch and its per-cell / per-joint hits for the 2D scores
    (``mirror``: [K] from mirror_kernels; ``turn_head``: read the facing azimuths too)."""
    out = net(b["image"])
    posed = volume.pose(b["rotations"][:, 0], b["translation"][:, 0], b["shape"][:, 0])
    kfeat = volume.kernel_features(posed)  # [B, K, D]
    feats = out.features.permute(0, 2, 3, 1)  # [B, h, w, D]
    best = torch.einsum("bhwd,bkd->bhwk", feats, kfeat).argmax(-1)
    body = b["kernel"] >= 0
    truth = b["kernel"][body]
    front_back = front_back_hits(feats, b["kernel"], b["far"], kfeat,
                                 twin_features(volume, posed, mirror), mirror, neighbours)
    turn = None if turn_head is None else read_turn(turn_head, b["image"], out, net)
    read = read_crops(out, b["K"], volume, turn)
    side = (b["box"][:, 0, 2:] - b["box"][:, 0, :2]).amax(-1)
    err = (read.keypoints * STRIDE - b["keypoints"][:, 0]).norm(dim=-1)
    hit = err < 0.1 * side[:, None]
    labels = b["labels"][:, 0]
    seen = (labels == JointLabel.VISIBLE) | (labels == JointLabel.SELF_OCCLUDED)
    return read, {"kernel": best[body] == truth, "kernel10": neighbours[truth, best[body]],
                  "front_back": front_back,
                  "pck_vis": hit[seen], "pck_occ": hit[labels == JointLabel.OCCLUDED]}


def _hidden_share(sample: dict[str, torch.Tensor]) -> float:
    """Share of the subject's body hidden (1 - visible fraction)."""
    return 1.0 - float(sample["visible"][0])
