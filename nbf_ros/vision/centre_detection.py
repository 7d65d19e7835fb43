"""People found by the feature network's own centre head: heatmap peaks -> person boxes.

The network (through its inference engine) runs on the whole frame downscaled so that its
longer side is ``detect_size`` (padded to a multiple of 32); each local maximum of the centre
heatmap is a person, with the box size its size head predicts there (CenterNet's reading,
Zhou et al. 2019). ``centre_peaks`` stays on the device with no host sync, so a CUDA graph
can replay it; ``peak_detections`` reads its result on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.vision.engines import Engine
from nbf_ros.vision.network import STRIDE

__all__ = ["MAX_PEOPLE", "Detection", "centre_peaks", "peak_detections"]

MAX_PEOPLE = 32  # most people a frame may hold (detection reads this many peaks)


@dataclass
class Detection:
    """A person found in the frame: box (x0, y0, x1, y1) in image pixels and its score."""

    box: np.ndarray
    score: float


def centre_peaks(engine: Engine, image: Tensor, detect_size: int  # image: [3, H, W]
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """The strongest person-centre peaks of a frame [3, H, W]: scores [k, 1], flat
    cell indices [k, 1] (as floats) and box sizes [k, 2] in detection pixels, best
    first, k the most people a node may ask for (no host sync: a graph replays it)."""
    _, h, w = image.shape
    scale = detect_size / max(h, w)
    dh, dw = round(h * scale), round(w * scale)
    small = F.interpolate(image[None], size=(dh, dw), mode="bilinear", antialias=True,
                          align_corners=False)
    ph, pw = -dh % 32, -dw % 32
    small = F.pad(small, (0, pw, 0, ph), value=0.5)  # mid grey: neither edge nor person
    out = engine(small)
    heat = out.centre[0, 0].sigmoid()
    peaks = heat == F.max_pool2d(heat[None, None], 3, 1, 1)[0, 0]
    score = torch.where(peaks, heat, torch.zeros_like(heat)).flatten()
    top = torch.topk(score, min(MAX_PEOPLE, score.numel()))
    # Fractions of the detection image; scaled by Python numbers, not a tensor from the
    # host (an upload, which a CUDA graph cannot hold).
    fraction = out.size[0].flatten(1)[:, top.indices].clamp_min(0.02)
    size = torch.stack((fraction[0] * small.shape[3], fraction[1] * small.shape[2]), 1)
    return top.values[:, None], top.indices[:, None].float(), size


def peak_detections(found: np.ndarray,  # [k, 4] score, cell index, box width, height
                    image_size: tuple[int, int], detect_size: int, max_people: int,
                    threshold: float) -> list[Detection]:
    """People of a frame of ``image_size`` (height, width) from its ``centre_peaks``
    (concatenated on the host), best first: those scoring at least ``threshold``."""
    h, w = image_size
    scale = detect_size / max(h, w)
    mw = (round(w * scale) + 31) // 32 * 32 // STRIDE  # centre map width, cells
    out = []
    for value, idx, bw, bh in found[:max_people]:
        if not value >= threshold:  # also stops at NaN (a broken model)
            break
        cy, cx = divmod(int(idx), mw)
        centre = np.array([cx + 0.5, cy + 0.5]) * STRIDE
        half = np.array([bw, bh], dtype=np.float64) / 2
        box = np.concatenate((centre - half, centre + half)) / scale
        if np.isfinite(box).all():
            out.append(Detection(box.astype(np.float32), float(value)))
    return out
