"""How a synthetic person looks: clothing regions, colours, patterns, skin and hair, shading."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nbf_ros.synth.textures import SKIN_TONES, pattern, random_colour

__all__ = ["Outfit", "random_outfit", "shade_people", "vertex_regions"]

# Clothing regions; a vertex's region comes from its dominant joint (and sleeve/leg length).
SKIN, HAIR, TOP, BOTTOM, SHOES = range(5)
_TORSO = ("pelvis", "spine1", "spine2", "spine3", "left_collar", "right_collar")
_UPPER_ARMS = ("left_shoulder", "right_shoulder")
_FOREARMS = ("left_elbow", "right_elbow")
_THIGHS = ("left_hip", "right_hip")
_SHINS = ("left_knee", "right_knee")
_FEET = ("left_ankle", "right_ankle", "left_foot", "right_foot")


@dataclass
class Outfit:
    """Colours and pattern settings of one person."""

    colours: Tensor  # [5, 3] per region (skin, hair, top, bottom, shoes)
    long_sleeves: bool
    long_legs: bool
    has_hair: bool
    seed: int  # seeds the per-region patterns


def random_outfit(gen: torch.Generator) -> Outfit:
    """Random skin tone, hair and clothes."""
    skin = SKIN_TONES[int(torch.randint(len(SKIN_TONES), (1,), generator=gen))]
    skin = skin * (0.9 + 0.2 * torch.rand(3, generator=gen))
    hair = random_colour(gen, 0.5) * 0.5
    colours = torch.stack((skin, hair, random_colour(gen), random_colour(gen),
                           random_colour(gen, 0.4) * 0.6))
    flags = torch.rand(3, generator=gen)
    return Outfit(colours.clamp(0, 1), bool(flags[0] < 0.6), bool(flags[1] < 0.7),
                  bool(flags[2] < 0.85), int(torch.randint(1 << 30, (1,), generator=gen)))


def vertex_regions(joint_names: tuple[str, ...], vertex_joint: Tensor, rest: Tensor,
                   outfit: Outfit) -> Tensor:  # -> [V] long
    """Clothing region of each vertex from its dominant joint and rest position [V, 3]."""
    def among(names: tuple[str, ...]) -> Tensor:
        ids = torch.tensor([joint_names.index(n) for n in names if n in joint_names])
        return torch.isin(vertex_joint.cpu(), ids)

    region = torch.full(vertex_joint.shape, SKIN, dtype=torch.long)
    region[among(_TORSO) | among(_UPPER_ARMS)] = TOP
    if outfit.long_sleeves:
        region[among(_FOREARMS)] = TOP
    region[among(_THIGHS)] = BOTTOM
    region[among(("pelvis",)) & (rest[:, 1].cpu() < 0.05)] = BOTTOM
    if outfit.long_legs:
        region[among(_SHINS)] = BOTTOM
    region[among(_FEET)] = SHOES
    if outfit.has_hair:
        head = among(("head",))
        top = rest[:, 1].cpu() > rest[head, 1].cpu().quantile(0.45)
        region[head & (top | (rest[:, 2].cpu() < rest[head, 2].cpu().quantile(0.3)))] = HAIR
    return region


def shade_people(region: Tensor, rest_coords: Tensor, normals: Tensor, owner: Tensor,
                 outfits: list[Outfit], light: Tensor, ambient: float) -> Tensor:
    """Colour of body pixels [N, 3]: region colour times pattern times Lambert shading.

    region [N] per pixel, rest_coords [N, 3] rest-pose body position (patterns stick to the
    body), normals [N, 3] camera frame, owner [N] person index, light [3] unit direction
    towards the light.
    """
    colour = torch.zeros(len(region), 3)
    for p, outfit in enumerate(outfits):
        gen = torch.Generator().manual_seed(outfit.seed)
        mine = owner == p
        for r in range(5):
            sel = mine & (region == r)
            if not bool(sel.any()):
                continue
            # Skin and hair stay nearly flat; clothes get a random pattern in 3 colours' mix.
            strength = 0.08 if r in (SKIN, HAIR) else 0.5
            pat = pattern(gen, rest_coords[sel], 0.12)
            base = outfit.colours[r]
            colour[sel] = base * (1 - strength + strength * pat[:, None])
    # Normals of a closed mesh face away from the camera on hidden sides; visible ones face it.
    lambert = (normals @ light).abs().clamp(0, 1)
    return colour * (ambient + (1 - ambient) * lambert[:, None])
