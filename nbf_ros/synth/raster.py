"""Z-buffer triangle rasterizer in plain torch: which triangle each pixel sees, and where.

Synthetic training scenes need an exact visible-triangle buffer (the kernel labels of the
contrastive loss and the per-joint visibility come from it) on the CPU machines and on the
GPU alike. An OpenGL renderer (pyrender) would need a system OSMesa/EGL library that
pip cannot install; this one needs nothing but torch, runs on either device, and is exact:
every (triangle, pixel) pair inside a triangle's bounding box is tested, and the nearest
depth wins through one ``scatter_reduce`` on a packed (depth, triangle) key.

Conventions: pinhole intrinsics K, camera frame +x right, +y down, +z forward; pixel
(u, v) has its centre at (u + 0.5, v + 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Raster", "rasterize"]

_FACE_BITS = 24  # room for 16 M triangles in the packed key
_DEPTH_UNIT = 1e-5  # metres per depth step of the key: 10 um, up to ~1,000 km


@dataclass
class Raster:
    """Visible triangle of each pixel and its perspective-correct barycentric coordinates."""

    face: Tensor  # [H, W] long, -1 where no triangle covers the pixel centre
    bary: Tensor  # [H, W, 3] barycentric weights of the triangle's corners (0 where empty)
    depth: Tensor  # [H, W] camera z of the visible surface, inf where empty

    def interpolate(self, faces: Tensor, attributes: Tensor) -> Tensor:
        """Per-pixel interpolation of per-vertex attributes [V, C] -> [H, W, C] (0 if empty)."""
        hit = self.face >= 0
        corners = faces[self.face.clamp_min(0)]  # [H, W, 3]
        values = (attributes[corners] * self.bary[..., None]).sum(-2)
        return values * hit[..., None]


def rasterize(
    vertices: Tensor,  # [V, 3] camera frame
    faces: Tensor,  # [F, 3] long
    K: Tensor,  # [3, 3]
    height: int,
    width: int,
    near: float = 0.05,
    chunk: int = 1 << 22,
) -> Raster:
    """Rasterize a triangle mesh: nearest triangle per pixel centre."""
    dev = vertices.device
    z = vertices[:, 2]
    uvw = vertices @ K.T.to(vertices.dtype)
    xy = uvw[:, :2] / z.clamp_min(1e-9)[:, None]
    tri_z = z[faces]  # [F, 3]
    tri_xy = xy[faces]  # [F, 3, 2]
    # Triangles with a corner behind the near plane are dropped rather than clipped: synthetic
    # scenes keep bodies and occluders well in front of the camera.
    keep = (tri_z > near).all(1)
    lo = (tri_xy.amin(1) - 0.5).ceil()
    hi = (tri_xy.amax(1) - 0.5).floor()
    lo = torch.maximum(lo, lo.new_zeros(2))
    hi = torch.minimum(hi, hi.new_tensor([width - 1.0, height - 1.0]))
    keep &= (hi >= lo).all(1)
    e1, e2 = tri_xy[:, 1] - tri_xy[:, 0], tri_xy[:, 2] - tri_xy[:, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    keep &= area.abs() > 1e-12
    ids = torch.nonzero(keep)[:, 0]
    best = torch.full((height * width,), torch.iinfo(torch.long).max, dtype=torch.long,
                      device=dev)
    if len(ids):
        extent = (hi[ids] - lo[ids] + 1).amax(1).long()
        # Triangles are grouped by box size (powers of two) so that each group tests a dense
        # size x size block of pixels: tiny body triangles never pay for a big occluder's box.
        size_class = torch.ceil(torch.log2(extent.float())).long()
        for cls in torch.unique(size_class).tolist():
            group = ids[size_class == cls]
            side = 1 << int(cls)
            per_chunk = max(1, chunk // (side * side))
            for start in range(0, len(group), per_chunk):
                _scan(group[start:start + per_chunk], side, tri_xy, tri_z, lo, hi, area,
                      width, best)
    face = torch.where(best == torch.iinfo(torch.long).max, -1, best & ((1 << _FACE_BITS) - 1))
    face = face.view(height, width)
    return _barycentric(face, tri_xy, tri_z, height, width)


def _scan(group: Tensor, side: int, tri_xy: Tensor, tri_z: Tensor, lo: Tensor, hi: Tensor,
          area: Tensor, width: int, best: Tensor) -> None:
    """Test every pixel of each triangle's side x side box; keep the nearest per pixel."""
    dev = tri_xy.device
    offs = torch.arange(side, device=dev)
    oy, ox = torch.meshgrid(offs, offs, indexing="ij")
    px = lo[group, 0].long()[:, None] + ox.reshape(1, -1)  # [G, S*S]
    py = lo[group, 1].long()[:, None] + oy.reshape(1, -1)
    valid = (px <= hi[group, 0, None].long()) & (py <= hi[group, 1, None].long())
    w = _screen_weights(px + 0.5, py + 0.5, tri_xy[group], area[group])  # [G, S*S, 3]
    inside = valid & (w >= -1e-7).all(-1)
    # Perspective-correct depth: 1/z interpolates linearly in screen space.
    inv_z = (w / tri_z[group][:, None, :]).sum(-1)
    depth = 1.0 / inv_z.clamp_min(1e-12)
    sel = torch.nonzero(inside, as_tuple=True)
    key = ((depth[sel] / _DEPTH_UNIT).long() << _FACE_BITS) | group[sel[0]]
    pix = py[sel] * width + px[sel]
    best.scatter_reduce_(0, pix, key, reduce="amin")


def _screen_weights(x: Tensor, y: Tensor, tri: Tensor, area: Tensor) -> Tensor:
    """Screen-space barycentric weights of points (x, y) [G, P] in triangles [G, 3, 2]."""
    a, b, c = tri[:, 0, None], tri[:, 1, None], tri[:, 2, None]  # [G, 1, 2]

    def edge(p: Tensor, q: Tensor) -> Tensor:  # signed area of (p, q, point)
        return (q[..., 0] - p[..., 0]) * (y - p[..., 1]) - (q[..., 1] - p[..., 1]) * (x - p[..., 0])

    return torch.stack((edge(b, c), edge(c, a), edge(a, b)), -1) / area[:, None, None]


def _barycentric(face: Tensor, tri_xy: Tensor, tri_z: Tensor, height: int,
                 width: int) -> Raster:
    """Perspective-correct barycentrics and depth of each pixel's visible triangle."""
    dev = tri_xy.device
    hit = face >= 0
    f = face[hit]
    vy, vx = torch.nonzero(hit, as_tuple=True)
    e1, e2 = tri_xy[f, 1] - tri_xy[f, 0], tri_xy[f, 2] - tri_xy[f, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    w = _screen_weights((vx + 0.5)[:, None].to(tri_xy.dtype), (vy + 0.5)[:, None].to(tri_xy.dtype),
                        tri_xy[f], area)[:, 0]  # [N, 3]
    w = w.clamp_min(0.0)
    persp = w / tri_z[f]
    inv_z = persp.sum(-1, keepdim=True).clamp_min(1e-12)
    bary = torch.zeros(height, width, 3, device=dev, dtype=tri_xy.dtype)
    depth = torch.full((height, width), float("inf"), device=dev, dtype=tri_xy.dtype)
    bary[hit] = persp / inv_z
    depth[hit] = 1.0 / inv_z[:, 0]
    return Raster(face, bary, depth)
