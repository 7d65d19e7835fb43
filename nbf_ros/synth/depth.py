"""Synthetic registered depth for synthetic scenes, with a structured-light sensor's faults.

Geometry: the people's surfaces (the scene's z-buffer), occluders as fronto-parallel boards
at a depth in front of the subject (a table top edge over the legs, a pole, a panel), a
floor under the subject's feet and a wall behind everyone.

Faults, modelled on a RealSense D435-class stereo sensor (Intel's D400 datasheet gives the
RMS depth error growing with the square of range; about 1.5 mm per m^2 here):

* Gaussian noise of standard deviation ``noise_per_m2 * z^2``;
* holes: smooth blobs with no return (low texture, specular spots) and dropouts along
  depth edges (the projector's shadow);
* flying pixels at depth edges: values between the near and the far surface;
* quantisation to millimetres (16UC1) and a range limit;
* the depth frame stamped a few milliseconds off its colour frame (``stamp_offset_ms``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import Scene
from nbf_ros.synth.textures import pattern, random_colour, value_noise

__all__ = ["OCCLUDER_KINDS", "DepthSensor", "RoomDepth", "board_occluder", "measured_depth",
           "room_depth"]

OCCLUDER_KINDS = ("table", "pole", "panel")


@dataclass
class DepthSensor:
    """The depth camera's faults."""

    noise_per_m2: float = 1.5e-3  # metres of noise (1 sigma) per square metre of range
    hole_fraction: float = 0.03  # share of pixels in no-return blobs
    edge_dropout: float = 0.3  # chance a pixel along a depth edge has no return
    flying: float = 0.5  # chance a pixel along a depth edge takes an in-between value
    edge_step: float = 0.1  # metres: a depth step larger than this between neighbours is an edge
    max_range: float = 10.0  # metres: farther surfaces give no return
    stamp_offset_ms: tuple[float, float] = (2.0, 8.0)  # |depth stamp - colour stamp|, uniform

    def __post_init__(self) -> None:
        for name in ("noise_per_m2", "hole_fraction", "edge_dropout", "flying"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.hole_fraction >= 1 or self.edge_dropout > 1 or self.flying > 1:
            raise ValueError("hole_fraction, edge_dropout and flying are probabilities")

    def stamp_offset_ns(self, gen: torch.Generator) -> int:
        """A depth stamp's offset from its colour frame's, ns (either sign)."""
        low, high = self.stamp_offset_ms
        ms = low + (high - low) * float(torch.rand(1, generator=gen))
        sign = 1 if float(torch.rand(1, generator=gen)) < 0.5 else -1
        return int(round(sign * ms * 1e6))


def board_occluder(kind: str, gen: torch.Generator, mesh: BodyMesh, rotations: Tensor,
                   translation: Tensor, shape: Tensor, K: Tensor, height: int, width: int
                   ) -> tuple[Tensor, Tensor, Tensor]:  # mask [H, W], rgb [H, W, 3], depth [H, W]
    """A board of ``kind`` (table, pole or panel) between the camera and the subject
    (rotations [J, 3, 3], translation [3], shape [S]): its pixel mask, colours and depth
    (inf off the board)."""
    if kind not in OCCLUDER_KINDS:
        raise ValueError(f"unknown occluder kind {kind!r}; use one of {OCCLUDER_KINDS}")
    points = mesh.pose(rotations[None], translation[None], shape[None]).points[0]
    uv = points @ K.T
    xy = uv[:, :2] / uv[:, 2:]
    (x0, y0), (x1, y1) = xy.amin(0).tolist(), xy.amax(0).tolist()
    z_subject = float(translation[2])
    rand = lambda lo, hi: lo + (hi - lo) * float(torch.rand(1, generator=gen))  # noqa: E731
    z = max(0.8, z_subject - rand(0.5, 1.2))
    px = float(K[0, 0]) / z  # pixels per metre on the board
    cx = (x0 + x1) / 2 + rand(-0.25, 0.25) * (x1 - x0)
    if kind == "table":  # its front covers the legs up to about the hips
        half, top, bottom = rand(0.5, 0.9) * px, y0 + rand(0.5, 0.65) * (y1 - y0), height
    elif kind == "pole":
        half, top, bottom = rand(0.03, 0.08) * px, 0.0, height
    else:  # a panel over a side of the upper body
        half = rand(0.2, 0.35) * px
        cx = (x0 + x1) / 2 + rand(0.15, 0.45) * (x1 - x0) * (1 if rand(0, 1) < 0.5 else -1)
        top = y0 + rand(0.0, 0.2) * (y1 - y0)
        bottom = top + rand(0.7, 1.1) * px
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32) + 0.5,
                            torch.arange(width, dtype=torch.float32) + 0.5, indexing="ij")
    mask = ((xx - cx).abs() < half) & (yy >= top) & (yy < bottom)
    texture = 0.55 + 0.45 * pattern(gen, torch.stack((xx, yy), -1), 0.1 * px)
    rgb = (random_colour(gen) * texture[..., None]) * mask[..., None]
    depth = torch.where(mask, torch.tensor(z), torch.tensor(math.inf))
    return mask, rgb, depth


def room_depth(K: Tensor, height: int, width: int, floor_y: float, wall_z: float
               ) -> Tensor:  # [H, W]
    """Depth of a room's floor (the plane y = floor_y, camera frame, y down) in front of a
    wall at z = wall_z."""
    v = (torch.arange(height, dtype=torch.float32) + 0.5 - float(K[1, 2])) / float(K[1, 1])
    floor = torch.where(v > 1e-6, floor_y / v.clamp_min(1e-6), torch.tensor(math.inf))
    floor = torch.where(floor > 0, floor, torch.tensor(math.inf))
    return torch.minimum(floor, torch.tensor(wall_z))[:, None].expand(height, width).clone()


def measured_depth(gen: torch.Generator, truth: Tensor, sensor: DepthSensor
                   ) -> np.ndarray:  # truth [H, W] metres -> [H, W] float32, 0 = no return
    """What the sensor reports for the true depth map ``truth`` (finite everywhere)."""
    h, w = truth.shape
    z = truth.clone()
    # Neighbour with the largest depth step (4-neighbourhood) and that step.
    pad = torch.nn.functional.pad(truth[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    neighbours = torch.stack((pad[:-2, 1:-1], pad[2:, 1:-1], pad[1:-1, :-2], pad[1:-1, 2:]))
    steps = neighbours - truth
    pick = steps.abs().argmax(0, keepdim=True)
    other = neighbours.gather(0, pick)[0]
    edge = (other - truth).abs() > sensor.edge_step
    # Flying pixels: a mix of the two surfaces an edge pixel straddles.
    fly = edge & (torch.rand(h, w, generator=gen) < sensor.flying)
    mix = 0.15 + 0.7 * torch.rand(h, w, generator=gen)
    z = torch.where(fly, truth + mix * (other - truth), z)
    z = z + sensor.noise_per_m2 * z.square() * torch.randn(h, w, generator=gen)
    holes = edge & (torch.rand(h, w, generator=gen) < sensor.edge_dropout)
    if sensor.hole_fraction > 0:
        blobs = value_noise(gen, h, w, 12)
        holes |= blobs > torch.quantile(blobs.flatten()[:: max(1, h * w // 50_000)],
                                        1 - sensor.hole_fraction)
    holes |= (z > sensor.max_range) | (z <= 0) | ~torch.isfinite(z)
    return torch.where(holes, torch.zeros_like(z), z).numpy().astype(np.float32)


class RoomDepth:
    """The measured depth of a sequence's frames: its people and boards (Scene.depth) in one
    room (floor under the subject's first-frame feet, wall behind everyone), through one
    sensor."""

    def __init__(self, first: Scene, sensor: DepthSensor, seed: int) -> None:
        self.sensor = sensor
        self.gen = torch.Generator().manual_seed(seed * 7_919 + 17)
        feet = max(float(p.joints[:, 1].max()) for p in first.people)
        self.floor_y = feet + 0.08  # soles are below the ankle joints
        far = max(float(p.translation[2]) for p in first.people)
        self.wall_z = far + 1.5 + 1.5 * float(torch.rand(1, generator=self.gen))

    def __call__(self, scene: Scene) -> np.ndarray:  # [H, W] float32 metres, 0 = no return
        """The sensor's depth map of one frame."""
        h, w = scene.image.shape[:2]
        room = room_depth(torch.as_tensor(scene.K), h, w, self.floor_y, self.wall_z)
        truth = torch.as_tensor(scene.depth)
        truth = torch.where(torch.isfinite(truth), torch.minimum(truth, room), room)
        return measured_depth(self.gen, truth, self.sensor)
