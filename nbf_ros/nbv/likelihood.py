"""Occlusion-robust feature likelihood of a rendered body (3DNBF, Zhang et al. 2023).

Each crop pixel p has a unit image feature phi_p; its clutter similarity ``c_p`` is the
best cosine between phi_p and the clutter bank. Its object similarity ``o_p`` compares
phi_p with the render, in one of two ways (``FitConfig.match``):

* ``blend`` (default): the cosine between phi_p and the rendered blend, the kernels'
  pose-dependent features by their render weights plus the best clutter feature by the
  remaining transmittance. Noise-free features have the true pose as the optimum. A pixel
  scores ``max(o, c)`` with the occlusion model on (robust), ``o`` with it off (plain).
  Off the body ``o = c``, so an occluded body pixel (``c > o``) costs the same as no
  body at all: occluders neither pull nor push the fit, while the plain score pushes the
  body off them.
* ``average``: 3DNBF-style, the render-weight average of the cosines between phi_p and
  each kernel there, scored ``fg * smax_T(o, c) + (1 - fg) * c`` (robust, with
  ``smax_T(a, b) = T log(exp(a/T) + exp(b/T))``, T = 0.1) or ``fg * o + (1 - fg) * c``
  (plain), where ``fg_p`` is the body's coverage. Cheaper (scalar table lookups) but an
  average of cosines is highest where a single kernel owns each pixel rather than at the
  true blend; fits with it ended about twice as far from the truth in our recovery runs
  (bench/results/recovery.md).

Either way ``fg * sigmoid((c - o) / T)`` is the probability that a pixel of the body is
hidden.

* ``posterior``: the network's own softmax over every kernel and clutter entry at the
  training temperature (InfoNCE is a softmax classifier, so these probabilities are what
  training calibrated; raw cosines are not). A pixel scores
  ``log(fg ((1 - pi) q_obj + pi q_clutter) + (1 - fg) q_clutter)`` with ``q_obj`` the
  render-weighted probability of the kernels there, ``q_clutter`` the clutter entries'
  mass and ``pi`` the chance that a body pixel is hidden (0: no occlusion model). The
  posterior that a body pixel is hidden is ``fg pi q_clutter / ((1 - pi) q_obj + pi
  q_clutter)``.

The score is averaged over pixels; the fitter minimises its negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nbf_ros.nbv.renderer import blend_features

__all__ = [
    "Likelihood", "clutter_match", "clutter_similarity", "kernel_similarity", "likelihood",
    "listed_similarity", "posterior_likelihood", "posterior_normaliser",
    "rendered_similarity", "similarity_table",
]


@dataclass
class Likelihood:
    """Per-crop score and per-pixel maps."""

    score: Tensor  # [B] mean per-pixel score (higher is better)
    # [B, P] how well the render explains each pixel: the cosine to the render ("blend",
    # "average") or the rendered kernels' softmax probability ("posterior").
    object_similarity: Tensor
    occlusion: Tensor  # [B, P] probability that a body pixel is hidden (0 off the body)


def clutter_similarity(features: Tensor, clutter: Tensor) -> Tensor:
    """Best cosine of each pixel feature to the clutter bank: [B, P, D], [C, D] -> [B, P]."""
    return (features @ clutter.t()).amax(-1)


def clutter_match(features: Tensor, clutter: Tensor) -> tuple[Tensor, Tensor]:
    """Best cosine of each pixel feature to the clutter bank and the clutter feature that
    gives it: [B, P, D], [C, D] -> [B, P], [B, P, D]."""
    best = (features @ clutter.t()).max(-1)
    return best.values, clutter[best.indices]


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


def rendered_similarity(
    features: Tensor,  # [Bp, P, D] unit image features, one crop per person
    person: Tensor,  # [B] long, crop each batch entry reads (hypotheses share)
    index: Tensor,  # [B, P, M] long, -1 = empty
    weight: Tensor,  # [B, P, M] render weights
    kernel_features: Tensor,  # [B, K, D] unit pose-dependent kernel features
    background: Tensor,  # [B, P, D] unit clutter feature seen behind each pixel
) -> Tensor:  # [B, P]
    """Cosine between each pixel's feature and the rendered blend there: the kernels'
    features by their render weights plus the background by the remaining transmittance.

    Unlike the weight-averaged cosine of ``kernel_similarity``, this is maximal exactly
    where the render reproduces the observed blend, so noise-free features have the true
    pose as their optimum; the average is highest where single kernels own the pixels.
    """
    coverage = (weight * (index >= 0)).sum(-1, keepdim=True)
    rendered = blend_features(index, weight, kernel_features) + (1.0 - coverage) * background
    dot = (features[person] * rendered).sum(-1)
    return dot / rendered.norm(dim=-1).clamp_min(1e-6)


def likelihood(
    weight: Tensor,  # [B, P, M] render weights
    similarity: Tensor,  # [B, P, M] from kernel_similarity, or [B, P] rendered_similarity
    clutter: Tensor,  # [B, P] from clutter_similarity
    temperature: float = 0.1,
    robust: bool = True,
) -> Likelihood:
    """Score a render against the image features."""
    fg = weight.sum(-1)
    blend = similarity.dim() == 2  # the render already includes the background
    obj = similarity if blend else (weight * similarity).sum(-1) / fg.clamp_min(1e-6)
    if robust:
        occlusion = fg.detach() * torch.sigmoid((clutter - obj.detach()) / temperature)
    else:
        occlusion = torch.zeros_like(obj)
    if blend:
        # Off the body obj equals the clutter score, so a hard max makes leaving a pixel
        # and letting an occluder cover it cost the same: occluders neither pull nor push
        # (a soft max would reward pixels where both explanations agree, pushing the body
        # off occluders). NeMo's loss (Wang et al., ICLR 2021) takes the same max.
        score = torch.maximum(obj, clutter) if robust else obj
    else:
        if robust:
            both = torch.stack((obj, clutter), -1) / temperature
            body = temperature * torch.logsumexp(both, -1)
        else:
            body = obj
        score = fg * body + (1.0 - fg) * clutter
    return Likelihood(score=score.mean(-1), object_similarity=obj, occlusion=occlusion)


@torch.no_grad()
def posterior_normaliser(
    features: Tensor,  # [Bp, P, D] unit image features, one crop per person
    kernel_features: Tensor,  # [Bp, K, D] unit kernel features of each person's start pose
    clutter: Tensor,  # [C, D]
    temperature: float,
) -> tuple[Tensor, Tensor]:  # log Z [Bp, P], clutter probability [Bp, P]
    """Per pixel, the log partition of the softmax over every kernel and clutter entry and
    the probability mass of the clutter entries, computed once per frame.

    The network was trained with exactly this softmax (InfoNCE over kernels and clutter),
    so its posterior is calibrated where raw cosines are not. The kernels' features are
    taken at the start pose: the partition hardly moves with a frame's pose change.
    """
    lk = features @ kernel_features.transpose(1, 2) / temperature
    lc = features @ clutter.t() / temperature
    log_z = torch.logsumexp(torch.cat((lk, lc), -1), -1)
    return log_z, torch.exp(torch.logsumexp(lc, -1) - log_z)


def listed_similarity(
    features: Tensor,  # [Bp, P, D] unit image features
    person: Tensor,  # [B] long, crop each batch entry reads
    index: Tensor,  # [B, P, M] long, -1 = empty
    kernel_features: Tensor,  # [B, K, D] unit pose-dependent kernel features
) -> Tensor:  # [B, P, M]
    """Cosine between each pixel's feature and each kernel listed at it (0 where empty)."""
    batch, num_k, dim = kernel_features.shape
    rows = (torch.arange(batch, device=index.device)[:, None, None] * num_k
            + index.clamp_min(0))
    listed = kernel_features.reshape(-1, dim)[rows]  # [B, P, M, D]
    return (listed * features[person][:, :, None, :]).sum(-1) * (index >= 0)


def posterior_likelihood(
    weight: Tensor,  # [B, P, M] render weights
    similarity: Tensor,  # [B, P, M] from listed_similarity
    log_z: Tensor,  # [B, P] from posterior_normaliser
    clutter: Tensor,  # [B, P] clutter probability from posterior_normaliser
    temperature: float,
    occlusion_prior: float,  # probability that a body pixel is hidden (0: plain)
) -> Likelihood:
    """Log probability of each pixel's kernel-or-clutter posterior under the render.

    A pixel covered by the body with weight fg shows one of its kernels (posterior mass
    ``q_obj``, the render-weighted mean over the listed kernels), or with probability
    ``occlusion_prior`` an occluder (mass ``q_clutter``); the rest (1 - fg) is background:
    ``log(fg ((1 - pi) q_obj + pi q_clutter) + (1 - fg) q_clutter)``.
    """
    fg = weight.sum(-1)
    # A kernel's probability cannot exceed one; the clamp only guards the start-pose
    # partition against a pose whose features moved above it.
    prob = torch.exp((similarity / temperature - log_z[..., None]).clamp(max=0.0))
    obj = (weight * prob).sum(-1) / fg.clamp_min(1e-6)
    pi = occlusion_prior
    body = (1.0 - pi) * obj + pi * clutter
    score = torch.log(fg * body + (1.0 - fg) * clutter + 1e-6)
    with torch.no_grad():
        occlusion = fg * pi * clutter / (body + 1e-6)
    return Likelihood(score=score.mean(-1), object_similarity=obj, occlusion=occlusion)
