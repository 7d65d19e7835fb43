"""Procedural colours and patterns: backgrounds, clothing, skin, occluder surfaces.

Everything is drawn from a torch.Generator so that a scene is a pure function of its seed.
Patterns are evaluated on coordinates (image pixels for backgrounds and occluders, rest-pose
body coordinates for clothing, so a stripe stays on the shirt whatever the pose).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["SKIN_TONES", "background", "pattern", "random_colour", "value_noise"]

# A spread of skin colours (linear RGB in [0, 1]) from light to dark.
SKIN_TONES = torch.tensor([
    [0.96, 0.80, 0.69], [0.90, 0.72, 0.58], [0.80, 0.60, 0.46], [0.68, 0.48, 0.34],
    [0.55, 0.38, 0.26], [0.42, 0.28, 0.19], [0.30, 0.20, 0.14],
])


def _uniform(gen: torch.Generator, *shape: int) -> Tensor:
    """Uniform [0, 1) numbers from ``gen``."""
    return torch.rand(*shape, generator=gen)


def random_colour(gen: torch.Generator, saturation: float = 1.0) -> Tensor:  # -> [3]
    """A random RGB colour in [0, 1] (HSV sampled, saturation scaled)."""
    h, s, v = _uniform(gen, 3)
    s = s * saturation
    v = 0.15 + 0.85 * v
    k = (torch.tensor([5.0, 3.0, 1.0]) + h * 6) % 6
    return v - v * s * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def value_noise(gen: torch.Generator, height: int, width: int, cells: int) -> Tensor:
    """Smooth noise in [0, 1] [H, W]: random values on a cells x cells grid, bicubic-upsampled."""
    grid = _uniform(gen, 1, 1, cells + 1, cells + 1)
    up = F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=True)
    return up[0, 0].clamp(0, 1)


def pattern(gen: torch.Generator, coords: Tensor, scale: float) -> Tensor:  # [..., C] -> [...]
    """A random pattern in [0, 1] at the points ``coords`` (2D or 3D): flat, stripes,
    checks or waves, with period about ``scale`` coordinate units."""
    kind = int(torch.randint(4, (1,), generator=gen))
    dim = coords.shape[-1]
    direction = F.normalize(torch.randn(dim, generator=gen), dim=0)
    period = scale * (0.5 + 1.5 * float(_uniform(gen, 1)))
    phase = float(_uniform(gen, 1)) * 2 * math.pi
    t = coords @ direction / period * 2 * math.pi + phase
    if kind == 0:
        return torch.zeros(coords.shape[:-1])
    if kind == 1:
        duty = 0.2 + 0.6 * float(_uniform(gen, 1))
        return ((t / (2 * math.pi)) % 1.0 < duty).float()
    if kind == 2:
        other = F.normalize(torch.randn(dim, generator=gen), dim=0)
        u = coords @ other / period * 2 * math.pi
        return (((t // math.pi) + (u // math.pi)) % 2).float()
    return 0.5 + 0.5 * torch.sin(t + 2.0 * torch.sin(t * 0.37))


def background(gen: torch.Generator, height: int, width: int) -> Tensor:  # -> [H, W, 3]
    """A cluttered background: colour gradient, noise, patterned rectangles and blobs."""
    ys = torch.linspace(0, 1, height)[:, None, None]
    xs = torch.linspace(0, 1, width)[None, :, None]
    c0, c1 = random_colour(gen, 0.7), random_colour(gen, 0.7)
    mix = (0.6 * ys + 0.4 * xs) if float(_uniform(gen, 1)) < 0.5 else (0.3 * ys + 0.7 * xs)
    img = c0 * (1 - mix) + c1 * mix
    cells = int(torch.randint(3, 12, (1,), generator=gen))
    img = img * (0.6 + 0.4 * value_noise(gen, height, width, cells)[..., None])
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing="ij")
    pix = torch.stack((xx, yy), -1)
    size = float(max(height, width))
    for _ in range(int(torch.randint(2, 9, (1,), generator=gen))):
        x0, y0 = float(_uniform(gen, 1)) * width, float(_uniform(gen, 1)) * height
        w, h = (0.05 + 0.5 * _uniform(gen, 2)) * size
        if float(_uniform(gen, 1)) < 0.6:
            region = (xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)
        else:
            region = ((xx - x0) / w) ** 2 + ((yy - y0) / h) ** 2 < 1.0
        colour = random_colour(gen)
        shade = 0.6 + 0.4 * pattern(gen, pix, size * 0.05)[..., None]
        img = torch.where(region[..., None], colour * shade, img)
    return img.clamp(0, 1)
