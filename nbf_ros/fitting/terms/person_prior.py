"""A person mask as the clutter model's prior: pixels a real-trained segmenter puts off the
person lean to clutter, pixels on it to the body's kernels.

The network's per-pixel posterior over kernels and clutter (``posterior_normaliser``: kernel
probabilities exp(s / T - log_z), clutter probability C, summing to one) is re-weighted by
a second opinion m = p(person | pixel) as a product of experts:

    p'(kernel k) = p(k) m / Z,   p'(clutter) = C (1 - m) / Z,   Z = (1 - C) m + C (1 - m),

so log_z' = log_z - log m + log Z and C' = C (1 - m) / Z. m is clamped to [floor, 1 - floor]
so that a mask cannot veto what the features say outright. Only the "posterior" match has
probabilities to re-weight; the other matches ignore the prior.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["pool_prior", "with_person_prior"]


def with_person_prior(log_z: Tensor, clutter: Tensor, prior: Tensor, floor: float
                      ) -> tuple[Tensor, Tensor]:  # [B, P] x2
    """The posterior's normaliser log_z [B, P] and clutter probability [B, P] after the
    person prior [B, P] in [0, 1]."""
    m = prior.clamp(floor, 1.0 - floor)
    person = (1.0 - clutter).clamp_min(0.0)
    z = person * m + clutter * (1.0 - m)
    return log_z - m.log() + z.log(), clutter * (1.0 - m) / z


def pool_prior(prior: Tensor, height: int, width: int) -> Tensor:  # [B, H*W] -> [B, h*w]
    """A prior on the fine grid averaged over 2 x 2 cells, for the coarse level."""
    grid = prior.view(-1, 1, height, width)[:, :, : height // 2 * 2, : width // 2 * 2]
    return F.avg_pool2d(grid, 2).flatten(1)
