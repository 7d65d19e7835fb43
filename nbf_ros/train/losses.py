"""Training losses of the feature network.

- Contrastive (InfoNCE, van den Oord et al. 2018; as in 3DNBF/NeMo): a body pixel's feature
  against its kernel's feature (for the person's pose) as the positive, every other kernel
  but the positive's neighbours and every clutter entry as negatives.
- Depth twin (off by default): a body pixel's feature against the feature the body's
  depth twin shows there (``nbf_ros.synth.depth_twin``: the same silhouette turned to face
  the other way, left and right swapped), a two-way softmax with the true kernel. InfoNCE
  counts the twin as one negative among hundreds; this term singles it out, since it is
  the one a fit confuses the pose with.
- Background: a background or occluder pixel's feature must be nearer the clutter bank than
  any kernel, which is what the clutter model of the likelihood assumes.
- Heatmaps and centres: penalty-reduced focal loss on Gaussian targets (CenterNet, Zhou et
  al. 2019); box size: L1 at the centres.
- Regression: joint rotations (Frobenius), shape (L1) and root-relative joints (L1) of the
  subject.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.nbv.volume import NeuralBodyVolume

__all__ = ["background_loss", "contrastive_loss", "focal_loss", "gaussian_maps",
           "kernel_neighbours", "regression_loss", "twin_loss"]


def kernel_neighbours(volume: NeuralBodyVolume, radius: float) -> Tensor:  # -> [K, K] bool
    """Pairs of kernels closer than ``radius`` at rest (a kernel is its own neighbour)."""
    rest = volume.body.mean_rest()[0]
    return torch.cdist(rest, rest) < radius


def contrastive_loss(
    features: Tensor,  # [N, D] unit features of body pixels
    kernel: Tensor,  # [N] long, their true kernels
    group: Tensor,  # [N] long, which (image, person) each pixel belongs to
    kernel_features: Tensor,  # [G, K, D] kernel features of each (image, person)'s pose
    clutter: Tensor,  # [C, D]
    neighbours: Tensor,  # [K, K] bool
    temperature: float,
) -> tuple[Tensor, Tensor]:  # loss, accuracy (argmax over kernels == truth)
    """InfoNCE over kernels and clutter, neighbours of the positive left out."""
    if len(features) == 0:
        zero = features.sum() * 0.0
        return zero, zero.detach()
    pos_feat = kernel_features[group, kernel]  # [N, D]
    pos = (features * pos_feat).sum(-1, keepdim=True) / temperature
    # One matrix product per (image, person) group rather than an [N, K, D] gather.
    logits_k = torch.empty(len(features), kernel_features.shape[1], device=features.device)
    for g in torch.unique(group).tolist():
        sel = group == g
        logits_k[sel] = features[sel] @ kernel_features[g].T
    logits_k = logits_k / temperature
    correct = (logits_k.argmax(1) == kernel).float().mean()
    logits_k = logits_k.masked_fill(neighbours[kernel], float("-inf"))
    logits_c = features @ clutter.T / temperature
    logits = torch.cat((pos, logits_k, logits_c), 1)
    loss = F.cross_entropy(logits, torch.zeros(len(features), dtype=torch.long,
                                               device=features.device))
    return loss, correct.detach()


def twin_loss(features: Tensor, positive: Tensor, twin: Tensor, temperature: float) -> Tensor:
    """-log P(true kernel) against the depth twin's kernel alone: unit features [N, D], their
    true kernels' features [N, D] and the twin's features there [N, D]."""
    if len(features) == 0:
        return features.sum() * 0.0
    gap = ((features * twin).sum(-1) - (features * positive).sum(-1)) / temperature
    return F.softplus(gap).mean()


def background_loss(features: Tensor, kernels: Tensor, clutter: Tensor,
                    temperature: float) -> Tensor:
    """-log P(clutter) for background features [N, D] against all kernels [K, D]."""
    if len(features) == 0:
        return features.sum() * 0.0
    lc = features @ clutter.T / temperature
    lk = features @ kernels.T / temperature
    return (torch.logsumexp(torch.cat((lc, lk), 1), 1) - torch.logsumexp(lc, 1)).mean()


def gaussian_maps(points: Tensor, weight: Tensor, height: int, width: int,
                  sigma: Tensor | float) -> Tensor:
    """One Gaussian map per point [B, M, 2] (map cells, x then y; cell centres at +0.5):
    returns [B, M, h, w], peak value ``weight`` [B, M] (0 for absent points)."""
    dev = points.device
    ys = torch.arange(height, device=dev, dtype=points.dtype) + 0.5
    xs = torch.arange(width, device=dev, dtype=points.dtype) + 0.5
    sig = torch.as_tensor(sigma, dtype=points.dtype, device=dev)
    if sig.dim() > 0:
        sig = sig[..., None, None]
    dx = (xs[None, None, None, :] - points[..., 0, None, None]) ** 2
    dy = (ys[None, None, :, None] - points[..., 1, None, None]) ** 2
    return torch.exp(-(dx + dy) / (2 * sig**2)) * weight[..., None, None]


def focal_loss(logits: Tensor, target: Tensor, alpha: float = 2.0, beta: float = 4.0) -> Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of peaks."""
    prob = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    peak = target > 0.99
    pos = -((1 - prob) ** alpha * prob.log())[peak].sum()
    neg = -(((1 - target) ** beta) * prob**alpha * (1 - prob).log())[~peak].sum()
    return (pos + neg) / peak.sum().clamp_min(1)


def regression_loss(pred_rot: Tensor, pred_shape: Tensor, true_rot: Tensor, true_shape: Tensor,
                    pred_joints: Tensor, true_joints: Tensor) -> Tensor:
    """Rotations [B, J, 3, 3] (squared Frobenius), shape L1, root-relative joints L1 (m)."""
    rot = ((pred_rot - true_rot) ** 2).sum((-1, -2)).mean()
    shape = (pred_shape - true_shape).abs().mean()
    rel_p = pred_joints - pred_joints[:, :1]
    rel_t = true_joints - true_joints[:, :1]
    return rot + shape + 10.0 * (rel_p - rel_t).abs().mean()
