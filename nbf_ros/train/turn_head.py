"""Training the turn head (nbf_ros/vision/turn_head.py) of a trained model, network frozen.

Samples are synthetic people alone before the camera (224 x 224, as the occlusion
benchmark's), each seen clean and behind occluders drawn as the network's training scenes
draw them (``nbf_ros.synth.scenes.occluders``: textured rectangles, ellipses and polygons a
quarter to 0.6 of the person's size), read through the pipeline's own crops; every crop is
also read mirrored (the facing azimuth negated), which doubles the samples and teaches the
head the mirror symmetry ``turn_weights`` relies on. Scenes come from ``TURN_SEED`` on:
unseen by the network (its runs use seeds far below the test set's) and far from the test
and validation people. The head is a cross-entropy fit to soft bin targets (AdamW, cosine
schedule); a tenth of the scenes is held out, and the held-out loss, the median azimuth
error and the share of crops read more than 90 degrees off are reported.

``tune_turn_head`` then goes further: it gives the head its own copy of the network and
tunes both end to end on the turn loss alone, over new scenes (``TUNE_SEED`` on) drawn the
same way, a few scenes a step under a warm-up and cosine schedule. The fitting network is
left as it was. The same held-out tenth of those scenes is read before and after.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from nbf_ros.progress import tqdm
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import SceneConfig, occluders, render_scene
from nbf_ros.vision.network import FeatureNet
from nbf_ros.vision.turn_head import (
    TURN_BINS,
    TurnHead,
    bin_targets,
    crop_ray,
    facing_azimuth,
    head_inputs,
    turn_weights,
)

__all__ = ["TUNE_SEED", "TURN_SEED", "HeadReport", "TurnSamples", "fit_turn_head",
           "held_out_report", "occluder_seed", "report_lines", "scene_views", "tune_turn_head",
           "turn_samples"]

TURN_SEED = 1_500_000_000
# Scenes that tune the head with its network: past the head's own (12,000 by default).
TUNE_SEED = 1_501_000_000
# Offset of a scene's occluder seed from the scene's (2^32 / golden ratio), modulo 2^32.
_OCCLUDER_OFFSET = 0x9E3779B9
SCENE = SceneConfig(height=224, width=224, extra_people=0, occluder_probability=0.0,
                    subject_height=(0.65, 0.9))
# The training scenes' occluders, always drawn (one or two, a quarter to 0.6 of the person).
OCCLUDED = SceneConfig(height=224, width=224, occluder_probability=1.0)


@dataclass
class TurnSamples:
    """Head inputs of crops and the facing azimuth each shows; ``scene`` groups a scene's
    crops (the held-out split keeps them together), ``occluded`` marks occluded views."""

    inputs: Tensor  # [N, F]
    azimuth: Tensor  # [N] radians
    scene: Tensor  # [N] long
    occluded: Tensor  # [N] bool


@dataclass
class HeadReport:
    """How the trained head reads held-out crops."""

    train_loss: float
    held_out_loss: float
    median_error_deg: dict[str, float]  # clean, occluded
    flipped_share: dict[str, float]  # share read more than 90 degrees off


def occluder_seed(scene_seed: int) -> int:
    """Seed of the occluders drawn over scene ``scene_seed``: a stream of their own. Seeded
    like the scene, they would replay the random numbers that drew its pose, and so could
    hint at the turn they hide; torch's CPU generator keeps only a seed's low 32 bits, so
    the offset must change those."""
    return (scene_seed + _OCCLUDER_OFFSET) % (1 << 32)


def turn_samples(pipeline, first_seed: int, scenes: int, views: int = 4,  # noqa: ANN001
                 progress: bool = True) -> TurnSamples:
    """Each scene clean and behind ``views`` draws of occluders, each crop also mirrored,
    read by ``pipeline`` (a PosePipeline) through its crops of the person's box."""
    mesh = BodyMesh.default()
    inputs, azimuth, scene_ids, occluded = [], [], [], []
    for index in tqdm(range(scenes), desc="turn samples", disable=not progress):
        crops, facing, seen = scene_views(pipeline, mesh, first_seed + index, views)
        with torch.no_grad():
            plain = head_inputs(pipeline.engine(crops))
            mirrored = head_inputs(pipeline.engine(torch.flip(crops, (-1,))))
        inputs += [plain.cpu(), mirrored.cpu()]
        azimuth += [facing.cpu(), -facing.cpu()]
        scene_ids.append(torch.full((2 * len(crops),), index))
        occluded += [seen, seen]
    return TurnSamples(torch.cat(inputs), torch.cat(azimuth), torch.cat(scene_ids),
                       torch.cat(occluded))


def scene_views(pipeline, mesh: BodyMesh, seed: int,  # noqa: ANN001
                views: int) -> tuple[Tensor, Tensor, Tensor]:
    """The pipeline's crops [1 + views, 3, S, S] of scene ``seed``'s person, clean and then
    behind ``views`` draws of the training scenes' occluders; the facing azimuth [1 + views]
    each shows, and which are occluded [1 + views]."""
    scene = render_scene(mesh, seed, SCENE)
    person = scene.people[0]
    gen = torch.Generator().manual_seed(occluder_seed(seed))
    shown = [scene.image]
    points = torch.as_tensor(person.keypoints, dtype=torch.float32)
    for _ in range(views):
        rgb, mask = occluders(gen, points, SCENE.height, SCENE.width, OCCLUDED)
        image = torch.as_tensor(scene.image).float() / 255.0
        image = torch.where(mask[..., None], rgb, image)
        shown.append((image * 255).round().to(torch.uint8).numpy())
    crops, crop_K = pipeline.person_crops(shown, scene.K, person.box)
    size = crops.shape[-1]
    root = torch.as_tensor(person.rotations[0], dtype=torch.float32, device=crop_K.device)
    facing = facing_azimuth(root.expand(len(shown), 3, 3), crop_ray(crop_K, size, size))
    return crops, facing, torch.arange(len(shown)) > 0


def fit_turn_head(samples: TurnSamples, epochs: int = 30, bins: int = TURN_BINS,
                  seed: int = 0, progress: bool = True) -> tuple[TurnHead, HeadReport]:
    """A turn head fitted to nine tenths of the scenes, and its report on the rest."""
    torch.manual_seed(seed)
    held = samples.scene >= int(math.ceil(0.9 * (int(samples.scene.max()) + 1)))
    if held.all() or not held.any():
        raise ValueError("the turn head needs at least two scenes (one held out)")
    x, y = samples.inputs[~held], samples.azimuth[~held]
    head = TurnHead(x.shape[1], bins)
    head.mean.copy_(x.mean(0))
    head.scale.copy_(x.std(0) + 1e-3)  # constant inputs (a pooled cell never lit) stay finite
    targets = bin_targets(y, bins)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    train_loss = float("nan")
    for _ in tqdm(range(epochs), desc="turn head", disable=not progress):
        head.train()
        order = torch.randperm(len(x))
        total = 0.0
        for start in range(0, len(x), 256):
            batch = order[start:start + 256]
            loss = _cross_entropy(head(x[batch]), targets[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        schedule.step()
        train_loss = total / len(x)
    head.eval()
    with torch.no_grad():
        weights = torch.softmax(head(samples.inputs[held]), -1)
    return head, _report(train_loss, weights, samples.azimuth[held], samples.occluded[held])


def tune_turn_head(pipeline, network: FeatureNet, head: TurnHead,  # noqa: ANN001
                   first_seed: int, scenes: int, views: int = 4, lr: float = 3e-4,
                   batch: int = 4, seed: int = 0, progress: bool = True
                   ) -> tuple[TurnHead, HeadReport, HeadReport]:
    """``head`` with its own copy of ``network`` (the pipeline's; or of the head's own
    network, when it has one), both tuned end to end on the turn loss over the first nine
    tenths of ``scenes`` scenes from ``first_seed`` (``batch`` scenes a step, each with
    ``views`` occluded views, crops also mirrored); and how the head reads the held-out
    tenth before and after."""
    if scenes < 2 or batch < 1 or lr <= 0:
        raise ValueError("tuning needs at least two scenes (one held out), a batch of at "
                         "least one scene and a positive learning rate")
    torch.manual_seed(seed)
    mesh = BodyMesh.default()
    held = max(1, scenes // 10)
    train, held_seeds = scenes - held, range(first_seed + scenes - held, first_seed + scenes)
    reader = network if head.network is None else head.network
    before = held_out_report(pipeline, reader, head, mesh, held_seeds, views, progress)
    tuned_head = copy.deepcopy(head)  # a head with a network of its own tunes that further
    if tuned_head.network is None:
        tuned_head.network = copy.deepcopy(network)
    # Eval mode throughout: batch norm keeps the fitting network's statistics (a few scenes a
    # step would make poor ones) and the head's dropout stays off; the weights still learn.
    tuned_head.eval()
    params = list(tuned_head.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = max(1, train // batch)
    warmup = max(1, steps // 20)
    # A short warm-up: the head was fitted to the frozen network, and a full step at once
    # throws it off before the network's features can follow.
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / warmup)
                                                 * 0.5 * (1 + math.cos(math.pi * k / steps)))
    losses = []
    for step in tqdm(range(steps), desc="tuning the turn reader", disable=not progress):
        crops, facing = [], []
        for index in range(step * batch, min((step + 1) * batch, train)):
            c, f, _ = scene_views(pipeline, mesh, first_seed + index, views)
            crops += [c, torch.flip(c, (-1,))]
            facing += [f, -f]
        logits = tuned_head(head_inputs(tuned_head.network(torch.cat(crops))))
        loss = _cross_entropy(logits, bin_targets(torch.cat(facing), head.bins))
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        losses.append(loss.item())
    for p in params:
        p.requires_grad_(False)
    tail = losses[-max(1, len(losses) // 10):]
    after = held_out_report(pipeline, tuned_head.network, tuned_head, mesh, held_seeds, views,
                            progress, train_loss=sum(tail) / len(tail))
    return tuned_head, before, after


def held_out_report(pipeline, network: FeatureNet, head: TurnHead,  # noqa: ANN001
                    mesh: BodyMesh, seeds: range, views: int, progress: bool = True,
                    train_loss: float = float("nan")) -> HeadReport:
    """How ``head`` over ``network`` reads the scenes ``seeds`` (each clean and behind
    ``views`` occluded views, read with their mirror images as turn_weights reads them)."""
    weights, facing, occluded = [], [], []
    for seed in tqdm(seeds, desc="held-out people", disable=not progress):
        crops, f, seen = scene_views(pipeline, mesh, seed, views)
        with torch.no_grad():
            weights.append(turn_weights(head, network(crops),
                                        network(torch.flip(crops, (-1,)))).cpu())
        facing.append(f.cpu())
        occluded.append(seen)
    return _report(train_loss, torch.cat(weights), torch.cat(facing), torch.cat(occluded))


def _report(train_loss: float, weights: Tensor, azimuth: Tensor,
            occluded: Tensor) -> HeadReport:
    """How bin weights [N, bins] read held-out crops showing ``azimuth`` [N] (``occluded``
    [N] bool): cross-entropy to the soft targets, median error and share read more than 90
    degrees off of the most probable bin, clean and occluded apart."""
    bins = weights.shape[-1]
    loss = float(-(bin_targets(azimuth, bins) * weights.clamp_min(1e-12).log()).sum(-1).mean())
    centres = torch.arange(bins) * (2 * math.pi / bins)
    error = _angle_deg(centres[weights.argmax(-1)] - azimuth)
    return HeadReport(
        train_loss, loss,
        {"clean": float(error[~occluded].median()), "occluded": float(error[occluded].median())},
        {"clean": float((error[~occluded] > 90).float().mean()),
         "occluded": float((error[occluded] > 90).float().mean())})


def _cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    return -(targets * torch.log_softmax(logits, -1)).sum(-1).mean()


def _angle_deg(angle: Tensor) -> Tensor:
    """|angle| wrapped to [0, 180] degrees."""
    return torch.rad2deg(torch.remainder(angle + math.pi, 2 * math.pi) - math.pi).abs()


def report_lines(report: HeadReport) -> list[str]:
    """The report in a few lines."""
    train = "" if math.isnan(report.train_loss) else f"train {report.train_loss:.3f}, "
    return [f"cross-entropy: {train}held out {report.held_out_loss:.3f}",
            *(f"{view}: median azimuth error {report.median_error_deg[view]:.1f} deg, "
              f"{100 * report.flipped_share[view]:.1f}% read more than 90 deg off"
              for view in ("clean", "occluded"))]
