"""Kernel and clutter features learned as moving averages of the image features they explain.

3DNBF keeps the kernel features out of back-propagation: after each batch, every kernel's
feature moves towards the normalised mean of the pixel features it is the ground truth of
(momentum 0.9), so the network chases slowly moving targets. Here each kernel has several
orientation bins; a pixel feature updates a kernel's bins in proportion to the bins'
weights for that pose. The clutter bank follows the background features the same way, each
background feature updating the entry it is closest to; entries nobody picks for a while
are re-seeded from random background features so that the bank covers the clutter seen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.nbv.volume import NeuralBodyVolume

__all__ = ["FeatureMemory"]


class FeatureMemory:
    """Moving-average updates of a NeuralBodyVolume's kernel and clutter features (in place)."""

    def __init__(self, volume: NeuralBodyVolume, momentum: float = 0.9,
                 reseed_after: int = 50) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.volume = volume
        self.momentum = momentum
        self.reseed_after = reseed_after
        self.idle = torch.zeros(len(volume.clutter), dtype=torch.long,
                                device=volume.clutter.device)

    @torch.no_grad()
    def update_kernels(self, features: Tensor, kernel: Tensor, bins: Tensor) -> None:
        """Pull kernel bins towards the features they explain: features [N, D], kernel [N]
        long, bins [N, NB] the bin weights of each feature's kernel in its person's pose."""
        vol = self.volume
        num_k, num_b, dim = vol.features.shape
        if len(features) == 0:
            return
        weighted = bins[:, :, None] * features[:, None, :]  # [N, NB, D]
        total = torch.zeros(num_k, num_b, dim, device=features.device)
        total.index_add_(0, kernel, weighted)
        mass = torch.zeros(num_k, num_b, device=features.device).index_add_(0, kernel, bins)
        seen = mass > 1e-3
        target = F.normalize(total, dim=-1)
        # A bin seen with little weight moves less: momentum scaled towards 1 by its mass.
        keep = 1.0 - (1.0 - self.momentum) * mass.clamp(max=1.0)
        mixed = F.normalize(keep[..., None] * vol.features + (1 - keep[..., None]) * target,
                            dim=-1)
        vol.set_features(torch.where(seen[..., None], mixed, vol.features))

    @torch.no_grad()
    def update_clutter(self, features: Tensor, generator: torch.Generator | None = None) -> None:
        """Pull each clutter entry towards the background features [N, D] nearest to it."""
        bank = self.volume.clutter
        if len(features) == 0:
            return
        nearest = (features @ bank.T).argmax(1)
        total = torch.zeros_like(bank).index_add_(0, nearest, features)
        count = torch.bincount(nearest, minlength=len(bank))
        seen = count > 0
        mixed = F.normalize(self.momentum * bank + (1 - self.momentum) * F.normalize(total,
                                                                                   dim=-1), dim=-1)
        bank.copy_(torch.where(seen[:, None], mixed, bank))
        self.idle = torch.where(seen, 0, self.idle + 1)
        stale = torch.nonzero(self.idle > self.reseed_after)[:, 0]
        if len(stale):
            pick = torch.randint(len(features), (len(stale),), generator=generator,
                                 device="cpu").to(features.device)
            bank[stale] = features[pick]
            self.idle[stale] = 0
