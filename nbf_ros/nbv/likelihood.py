"""Occlusion-robust feature likelihood of a rendered body (3DNBF, Zhang et al. 2023).

Each crop pixel p has a unit image feature phi_p. Where the body covers it (coverage
``fg_p``), its object similarity is the weight-averaged cosine between phi_p and the
features of the kernels rendered there; its clutter similarity is the best cosine between
phi_p and the clutter bank. A pixel scores

* robust (occlusion model on): ``fg * smax_T(obj, clutter) + (1 - fg) * clutter``,
  where ``smax_T(a, b) = T log(exp(a/T) + exp(b/T))`` (3DNBF: T = 0.1). A body pixel whose
  feature is better explained by clutter (an occluder) costs nothing, so occluders do
  not pull the fit; ``sigmoid((clutter - obj) / T)`` is its probability of being occluded.
* plain (occlusion model off): ``fg * obj + (1 - fg) * clutter``, so occluded body
  pixels push the body away.

The score is averaged over pixels; the fitter minimises its negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "Likelihood", "clutter_similarity", "kernel_similarity", "likelihood", "similarity_table",
]


@dataclass
class Likelihood:
    """Per-crop score and per-pixel maps."""

    score: Tensor  # [B] mean per-pixel score (higher is better)
    object_similarity: Tensor  # [B, P] weight-averaged cosine to the rendered kernels
    occlusion: Tensor  # [B, P] probability that a body pixel is hidden (0 off the body)


def clutter_similarity(features: Tensor, clutter: Tensor) -> Tensor:
    """Best cosine of each pixel feature to the clutter bank: [B, P, D], [C, D] -> [B, P]."""
    return (features @ clutter.t()).amax(-1)


@torch.no_grad()
def similarity_table(
    features: Tensor,  # [Bp, P, D] unit image features, one crop per person
    kernel_features: Tensor,  # [K, NB, D] unit per-bin kernel features
    dtype: torch.dtype | None = None,
) -> Tensor:  # [Bp, P, K, NB]
    """Cosine of every crop pixel to every kernel bin feature, computed once per frame.

    Image and kernel features are fixed while a frame is fitted, so one matrix product
    replaces a gather of D-dimensional features at every pixel and iteration; iterations
    then only look up scalars. ``dtype`` (e.g. float16 on a GPU) halves its memory.
    """
    table = torch.einsum("bpd,knd->bpkn", features, kernel_features)
    return table if dtype is None else table.to(dtype)


def kernel_similarity(
    table: Tensor,  # [Bp, P, K, NB] from similarity_table
    person: Tensor,  # [B] long, row of the table each batch entry reads (hypotheses share)
    index: Tensor,  # [B, P, M] long, -1 = empty
    bin_weights: Tensor,  # [B, K, NB] soft orientation-bin weights of each kernel
    gram: Tensor,  # [K, NB, NB] inner products between each kernel's bin features
) -> Tensor:  # [B, P, M]
    """Cosine between each pixel's feature and the pose-dependent feature of each kernel
    listed at it, differentiable in the bin weights.

    The pose-dependent feature is the unit-normalised bin mix ``sum_n w_n f_n``, so its
    cosine with a pixel is ``sum_n w_n S_n / sqrt(w' G w)`` where S are the table entries:
    the gradient reaches the bone orientations through w, which is what lets the features
    tell a limb turned towards the camera from one turned away (3DNBF's 3D-aware features).
    """
    _, num_p, num_k, nb = table.shape
    batch, _, m = index.shape
    k = index.clamp_min(0)
    pix = torch.arange(num_p, device=index.device)[None, :, None]
    base = ((person[:, None, None] * num_p + pix) * num_k + k) * nb  # [B, P, M]
    bins = torch.arange(nb, device=index.device)
    sims = table.reshape(-1).take(base[..., None] + bins).to(bin_weights.dtype)  # [B,P,M,NB]
    norm = torch.einsum("bkn,knl,bkl->bk", bin_weights, gram, bin_weights).clamp_min(1e-8)
    mixed = bin_weights / norm.sqrt()[..., None]  # [B, K, NB]
    w = mixed.gather(1, k.view(batch, -1, 1).expand(-1, -1, nb)).view(batch, num_p, m, nb)
    return (w * sims).sum(-1) * (index >= 0)


def likelihood(
    weight: Tensor,  # [B, P, M] render weights
    similarity: Tensor,  # [B, P, M] from kernel_similarity
    clutter: Tensor,  # [B, P] from clutter_similarity
    temperature: float = 0.1,
    robust: bool = True,
) -> Likelihood:
    """Score a render against the image features."""
    fg = weight.sum(-1)
    obj = (weight * similarity).sum(-1) / fg.clamp_min(1e-6)
    if robust:
        both = torch.stack((obj, clutter), -1) / temperature
        body = temperature * torch.logsumexp(both, -1)
        occlusion = fg.detach() * torch.sigmoid((clutter - obj.detach()) / temperature)
    else:
        body = obj
        occlusion = torch.zeros_like(obj)
    score = fg * body + (1.0 - fg) * clutter
    return Likelihood(score=score.mean(-1), object_similarity=obj, occlusion=occlusion)


def normalize_features(features: Tensor) -> Tensor:
    """Unit-normalise feature vectors along the last axis."""
    return F.normalize(features, dim=-1)
