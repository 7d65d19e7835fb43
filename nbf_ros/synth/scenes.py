"""Synthetic camera images of people with full ground truth, deterministic from a seed.

A scene: one subject (person 0) framed by the camera, possibly more people around and in
front, 2D occluders (textured rectangles, ellipses, polygons) over the subject, a
procedural background, random intrinsics, distance, lighting and sensor noise. Ground truth
per pixel: which person and which Neural Body Volume kernel it shows (-1 for background
and occluders) and the occluder mask; per person: pose, shape, 3D and 2D joints, per-joint
visibility label, box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from nbf_ros.body.base import vertex_normals
from nbf_ros.synth.appearance import (
    Outfit,
    random_outfit,
    shade_people,
    vertex_regions,
)
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.poses import random_body_pose, random_root
from nbf_ros.synth.raster import rasterize
from nbf_ros.synth.textures import background, pattern, random_colour, value_noise
from nbf_ros.synth.truth import JointLabel, joint_labels

__all__ = ["JointLabel", "PersonTruth", "Scene", "SceneConfig", "SceneLayout", "draw_scene",
           "occluders", "render_scene", "sample_layout"]


@dataclass
class SceneConfig:
    """What random scenes look like."""

    height: int = 128
    width: int = 128
    extra_people: int = 1  # up to this many people besides the subject
    extra_person_probability: float = 0.4
    extra_depth: tuple[float, float] = (-1.5, 2.0)  # other people's depth minus the subject's, m
    occluder_probability: float = 0.5
    max_occluders: int = 2
    occluder_size: tuple[float, float] = (0.25, 0.6)  # side, fraction of the subject's box
    subject_height: tuple[float, float] = (0.55, 0.95)  # fraction of the image height
    focal: tuple[float, float] = (0.9, 2.5)  # focal length, fraction of the image width
    activity: tuple[float, float] = (0.2, 1.0)  # pose randomness (poses.random_body_pose)
    shape_range: float = 0.3  # shape offsets uniform in +-shape_range
    yaw_range: float = math.pi
    centre_jitter: float = 0.12  # subject centre offset, fraction of the image size
    noise: float = 0.02  # sensor noise standard deviation (image in [0, 1])


@dataclass
class PersonTruth:
    """Ground truth of one person in a scene (camera optical frame, metres, pixels)."""

    rotations: np.ndarray  # [J, 3, 3] local rotations, root first
    translation: np.ndarray  # [3] pelvis position
    shape: np.ndarray  # [S]
    joints: np.ndarray  # [J, 3]
    keypoints: np.ndarray  # [J, 2] projected joints, pixels
    labels: np.ndarray  # [J] uint8 JointLabel
    box: np.ndarray  # [4] x0, y0, x1, y1 of the projected body, clipped to the image
    visible_fraction: float  # share of its front-most pixels not under a 2D occluder
    hidden_fraction: float = 0.0  # share of its silhouette hidden by occluders or people


@dataclass
class Scene:
    """One synthetic image and its ground truth."""

    image: np.ndarray  # [H, W, 3] uint8 RGB
    K: np.ndarray  # [3, 3] intrinsics
    person: np.ndarray  # [H, W] int8, index into people, -1 background/occluder
    kernel: np.ndarray  # [H, W] int16, kernel shown, -1 where no unoccluded body
    occluder: np.ndarray  # [H, W] bool
    people: list[PersonTruth] = field(default_factory=list)
    seed: int = 0
    # [H, W] float32 camera z of the people and of occluders with a depth, inf elsewhere.
    depth: np.ndarray | None = None


def _place_subject(mesh: BodyMesh, rot: Tensor, shape: Tensor, cfg: SceneConfig, f: float,
                   gen: torch.Generator) -> Tensor:  # -> [3] translation
    """Pelvis position that frames the body at the chosen image height, near the centre."""
    verts = mesh.pose(rot[None], torch.zeros(1, 3), shape[None]).points[0]
    lo, hi = verts.amin(0), verts.amax(0)
    frac = cfg.subject_height[0] + (cfg.subject_height[1] - cfg.subject_height[0]) * float(
        torch.rand(1, generator=gen))
    z = max(1.0, f * float(hi[1] - lo[1]) / (frac * cfg.height)) - float(lo[2])
    jitter = (torch.rand(2, generator=gen) * 2 - 1) * cfg.centre_jitter
    centre = (lo[:2] + hi[:2]) / 2
    target = jitter * torch.tensor([cfg.width, cfg.height]) * z / f
    return torch.tensor([float(target[0] - centre[0]), float(target[1] - centre[1]), z])


@dataclass
class SceneLayout:
    """Everything random about a scene except sensor noise: camera, people, looks, occluders.

    Drawing a layout is deterministic, so a sequence is one layout whose people move.
    """

    K: Tensor  # [3, 3]
    height: int
    width: int
    rotations: Tensor  # [P, J, 3, 3]
    translation: Tensor  # [P, 3]
    shape: Tensor  # [P, S]
    outfits: list[Outfit]
    background: Tensor  # [H, W, 3] in [0, 1]
    occluder_rgb: Tensor  # [H, W, 3]
    occluder_mask: Tensor  # [H, W] bool
    light: Tensor  # [3] unit direction towards the light
    ambient: float
    # [H, W] camera z of the occluders (inf off them), for depth (synth/depth.py); None:
    # flat 2D occluders without a depth.
    occluder_depth: Tensor | None = None


def sample_layout(mesh: BodyMesh, gen: torch.Generator, cfg: SceneConfig) -> SceneLayout:
    """A random layout: subject framed by the camera, other people, looks, occluders."""
    h, w = cfg.height, cfg.width
    f = w * (cfg.focal[0] + (cfg.focal[1] - cfg.focal[0]) * float(torch.rand(1, generator=gen)))
    K = torch.tensor([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]])
    count = 1 + sum(float(torch.rand(1, generator=gen)) < cfg.extra_person_probability
                    for _ in range(cfg.extra_people))
    act = cfg.activity[0] + (cfg.activity[1] - cfg.activity[0]) * torch.rand(count, generator=gen)
    rots = random_body_pose(mesh.body, count, gen, act)
    rots[:, 0] = random_root(count, gen, yaw_range=cfg.yaw_range)
    shapes = (torch.rand(count, mesh.body.num_shape, generator=gen) * 2 - 1) * cfg.shape_range
    trans = torch.zeros(count, 3)
    trans[0] = _place_subject(mesh, rots[0], shapes[0], cfg, f, gen)
    for p in range(1, count):  # beside, behind or in front of the subject
        near, far = cfg.extra_depth
        dz = near + (far - near) * float(torch.rand(1, generator=gen))
        z = max(1.2, float(trans[0, 2]) + dz)
        side = 1.0 if float(torch.rand(1, generator=gen)) < 0.5 else -1.0
        dx = side * (0.3 + 0.9 * float(torch.rand(1, generator=gen))) * z / trans[0, 2]
        trans[p] = torch.tensor([float(trans[0, 0]) + dx, float(trans[0, 1]), z])
    back = background(gen, h, w)
    outfits = [random_outfit(gen) for _ in range(count)]
    light = torch.nn.functional.normalize(torch.randn(3, generator=gen)
                                          + torch.tensor([0.0, -0.5, -1.5]), dim=0)
    ambient = 0.3 + 0.3 * float(torch.rand(1, generator=gen))
    subject = mesh.pose(rots[:1], trans[:1], shapes[:1]).points[0]
    uv = subject @ K.T
    pixels = uv[:, :2] / uv[:, 2:].clamp_min(1e-6)
    occ_rgb, occ_mask = occluders(gen, pixels, h, w, cfg)
    return SceneLayout(K, h, w, rots, trans, shapes, outfits, back, occ_rgb, occ_mask, light,
                       ambient)


def render_scene(mesh: BodyMesh, seed: int, cfg: SceneConfig | None = None) -> Scene:
    """A random scene, the same for the same mesh, seed and config."""
    cfg = cfg or SceneConfig()
    gen = torch.Generator().manual_seed(seed)
    layout = sample_layout(mesh, gen, cfg)
    return draw_scene(mesh, layout, gen, cfg.noise, seed)


def draw_scene(mesh: BodyMesh, layout: SceneLayout, gen: torch.Generator, noise: float,
               seed: int = 0) -> Scene:
    """Render a layout: image, per-pixel labels and per-person truth."""
    h, w, K = layout.height, layout.width, layout.K
    rots, trans, shapes = layout.rotations, layout.translation, layout.shape
    count = len(trans)
    posed = mesh.pose(rots, trans, shapes)
    nv = mesh.num_vertices
    faces = torch.cat([mesh.faces + p * nv for p in range(count)])
    verts = posed.points.reshape(-1, 3)
    raster = rasterize(verts, faces, K, h, w)
    hit = raster.face >= 0
    nearest = raster.bary.argmax(-1, keepdim=True)  # the corner nearest each pixel's point
    corner = faces[raster.face.clamp_min(0)].gather(-1, nearest)[..., 0]
    owner = torch.where(hit, corner // nv, -1)
    vertex = corner % nv

    image = layout.background.clone()
    rests = mesh.body.rest(shapes)[0]  # [P, V, 3]
    regions = torch.stack([vertex_regions(mesh.body.joint_names, mesh.vertex_joint, rests[p],
                                          layout.outfits[p]) for p in range(count)])
    normals = torch.cat([vertex_normals(posed.points[p], mesh.faces) for p in range(count)])
    pix_owner, pix_vertex = owner[hit], vertex[hit]
    pix_rest = raster.interpolate(faces, rests.reshape(-1, 3))[hit]
    pix_normal = torch.nn.functional.normalize(raster.interpolate(faces, normals)[hit], dim=-1)
    image[hit] = shade_people(regions[pix_owner, pix_vertex], pix_rest, pix_normal, pix_owner,
                              layout.outfits, layout.light, layout.ambient)
    occluder = layout.occluder_mask
    image = torch.where(occluder[..., None], layout.occluder_rgb, image)
    image = _sensor(gen, image, noise)
    person = torch.where(occluder, -1, owner)
    kernel = torch.where(person >= 0, mesh.vertex_kernel[vertex], -1)
    surface = raster.interpolate(faces, verts)
    labels = joint_labels(posed.joints, K, person, surface, vertex, mesh, raster.depth, occluder)
    people = []
    full = torch.bincount(owner[hit], minlength=count).float()
    shown = torch.bincount(person[person >= 0], minlength=count).float()
    alone = full if count == 1 else torch.stack([  # each silhouette without the others
        (rasterize(posed.points[p], mesh.faces, K, h, w).face >= 0).sum().float()
        for p in range(count)])
    uv = posed.joints @ K.T
    keypoints = uv[..., :2] / uv[..., 2:].clamp_min(1e-6)
    vuv = posed.points @ K.T
    vxy = vuv[..., :2] / vuv[..., 2:].clamp_min(1e-6)
    for p in range(count):
        size = torch.tensor([float(w), float(h)])  # clip both corners: never an inverted box
        lo = torch.minimum(vxy[p].amin(0).clamp(min=0.0), size)
        hi = torch.minimum(vxy[p].amax(0), size).clamp(min=0.0)
        people.append(PersonTruth(
            rotations=rots[p].numpy(), translation=trans[p].numpy(), shape=shapes[p].numpy(),
            joints=posed.joints[p].numpy(), keypoints=keypoints[p].numpy(),
            labels=labels[p].numpy(), box=torch.cat((lo, hi)).numpy(),
            visible_fraction=float(shown[p] / full[p].clamp_min(1.0)),
            hidden_fraction=float(1.0 - shown[p] / alone[p].clamp_min(1.0))))
    depth = raster.depth if layout.occluder_depth is None else torch.where(
        occluder, layout.occluder_depth, raster.depth)
    return Scene(
        image=(image * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy(), K=K.numpy(),
        person=person.to(torch.int8).numpy(), kernel=kernel.to(torch.int16).numpy(),
        occluder=occluder.numpy(), people=people, seed=seed,
        depth=depth.to(torch.float32).numpy())


def occluders(gen: torch.Generator, subject: Tensor, h: int, w: int,
              cfg: SceneConfig) -> tuple[Tensor, Tensor]:
    """Random textured shapes centred on points of the subject (projected vertices [V, 2]):
    their colours [H, W, 3] and union mask [H, W]."""
    rgb = torch.zeros(h, w, 3)
    mask = torch.zeros(h, w, dtype=torch.bool)
    if float(torch.rand(1, generator=gen)) >= cfg.occluder_probability:
        return rgb, mask
    onscreen = subject[(subject[:, 0] >= 0) & (subject[:, 0] < w) & (subject[:, 1] >= 0)
                       & (subject[:, 1] < h)]
    if len(onscreen) == 0:
        return rgb, mask
    lo, hi = onscreen.amin(0), onscreen.amax(0)
    box_side = float((hi - lo).amax()) + 1.0
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    count = int(torch.randint(1, cfg.max_occluders + 1, (1,), generator=gen))
    for _ in range(count):
        cx, cy = onscreen[int(torch.randint(len(onscreen), (1,), generator=gen))].tolist()
        small, large = cfg.occluder_size
        sy, sx = ((small + (large - small) * torch.rand(2, generator=gen)) * box_side
                  / 2).tolist()
        kind = int(torch.randint(3, (1,), generator=gen))
        if kind == 0:
            shape = ((yy - cy).abs() < sy) & ((xx - cx).abs() < sx)
        elif kind == 1:
            shape = ((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2 < 1.0
        else:
            shape = _polygon(gen, xx, yy, cx, cy, (sx + sy) / 2)
        colour = random_colour(gen)
        texture = 0.55 + 0.45 * pattern(gen, torch.stack((xx, yy), -1), box_side * 0.08)
        texture = texture * (0.8 + 0.2 * value_noise(gen, h, w, 6))
        rgb[shape] = (colour * texture[..., None])[shape]
        mask |= shape
    return rgb, mask


def _polygon(gen: torch.Generator, xx: Tensor, yy: Tensor, cx: float, cy: float,
             radius: float) -> Tensor:
    """A random star-shaped polygon's pixel mask (5 to 8 corners around the centre)."""
    n = int(torch.randint(5, 9, (1,), generator=gen))
    angles = torch.sort(torch.rand(n, generator=gen) * 2 * math.pi).values
    radii = radius * (0.5 + 0.5 * torch.rand(n, generator=gen))
    theta = torch.atan2(yy - cy, xx - cx) % (2 * math.pi)
    dist = torch.hypot(yy - cy, xx - cx)
    # Radius of the polygon boundary in each pixel's direction, between neighbouring corners.
    ang = torch.cat((angles, angles[:1] + 2 * math.pi))
    rad = torch.cat((radii, radii[:1]))
    t = theta.clone()
    t[t < ang[0]] += 2 * math.pi
    seg = torch.searchsorted(ang, t.reshape(-1)).reshape(t.shape).clamp(1, n) - 1
    a0, a1 = ang[seg], ang[seg + 1]
    frac = ((t - a0) / (a1 - a0).clamp_min(1e-6)).clamp(0, 1)
    bound = rad[seg] * (1 - frac) + rad[seg + 1] * frac
    return dist < bound


def _sensor(gen: torch.Generator, image: Tensor, noise: float) -> Tensor:
    """Exposure, contrast and Gaussian noise."""
    gain = 0.75 + 0.5 * float(torch.rand(1, generator=gen))
    contrast = 0.8 + 0.4 * float(torch.rand(1, generator=gen))
    mean = image.mean()
    out = (image - mean) * contrast + mean
    out = out * gain + noise * torch.randn(image.shape, generator=gen)
    return out.clamp(0, 1)
