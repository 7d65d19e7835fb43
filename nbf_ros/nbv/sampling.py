"""Even sampling of points on a triangle mesh surface."""

from __future__ import annotations

import numpy as np

__all__ = ["sample_surface", "farthest_point_sampling"]


def sample_surface(
    vertices: np.ndarray,  # [V, 3]
    faces: np.ndarray,  # [F, 3]
    count: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:  # face index [N], barycentric [N, 3]
    """Area-uniform random points on the surface as (face index, barycentric coords)."""
    tri = vertices[faces]  # [F, 3, 3]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    face = rng.choice(len(faces), size=count, p=area / area.sum())
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)  # square root keeps the density uniform over each triangle
    bary = np.stack((1.0 - s, s * (1.0 - r2), s * r2), axis=1)
    return face, bary


def farthest_point_sampling(points: np.ndarray, count: int, start: int = 0) -> np.ndarray:
    """Indices of ``count`` points chosen greedily to be as far apart as possible."""
    if count > len(points):
        raise ValueError(f"cannot pick {count} points out of {len(points)}")
    chosen = np.empty(count, dtype=np.int64)
    chosen[0] = start
    dist = np.linalg.norm(points - points[start], axis=1)
    for i in range(1, count):
        chosen[i] = int(dist.argmax())
        dist = np.minimum(dist, np.linalg.norm(points - points[chosen[i]], axis=1))
    return chosen
