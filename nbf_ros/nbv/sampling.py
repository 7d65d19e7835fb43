"""Even sampling of points on a body surface (kernel placement)."""

from __future__ import annotations

import numpy as np

__all__ = ["farthest_point_sampling"]


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
