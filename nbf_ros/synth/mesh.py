"""The full body mesh synthetic scenes render: every vertex of the body model as a CompactBody.

Rendering needs the whole surface, not just the kernels; exporting all vertices through the
same CompactBody machinery as the Neural Body Volume keeps the two consistent (same joints,
same linear shape space, same skinning) and lets a machine render training data without
the body model's package (the GPU machine has no Anny). Each vertex also carries the
kernel it belongs to (nearest kernel at rest: the ground truth of the contrastive loss)
and its dominant joint (for clothing regions).

Build with ``python -m nbf_ros.synth.mesh`` (needs Anny); the result is
``models/anny_mesh.npz``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from nbf_ros.body.base import BodyModel
from nbf_ros.body.compact import CompactBody, CompactBodyOutput
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.npz_format import load_versioned, save_versioned, sub_arrays

__all__ = ["FORMAT", "VERSION", "BodyMesh", "build_mesh"]

FORMAT = "nbf_ros.body_mesh"
VERSION = 1
DEFAULT_FILE = "anny_mesh.npz"


class BodyMesh(nn.Module):
    """Skinned triangle mesh with per-vertex kernel and joint labels."""

    def __init__(self, body: CompactBody, faces: np.ndarray | Tensor,
                 vertex_kernel: np.ndarray | Tensor) -> None:
        super().__init__()
        faces_t = torch.as_tensor(np.asarray(faces), dtype=torch.long)
        kernel_t = torch.as_tensor(np.asarray(vertex_kernel), dtype=torch.long)
        if faces_t.dim() != 2 or faces_t.shape[1] != 3:
            raise ValueError(f"faces: expected [F, 3], got {tuple(faces_t.shape)}")
        if faces_t.numel() and (faces_t.min() < 0 or faces_t.max() >= body.num_points):
            raise ValueError(f"faces: vertex indices must lie in [0, {body.num_points})")
        if kernel_t.shape != (body.num_points,):
            raise ValueError(f"vertex_kernel: expected ({body.num_points},), "
                             f"got {tuple(kernel_t.shape)}")
        self.body = body
        self.register_buffer("faces", faces_t)
        self.register_buffer("vertex_kernel", kernel_t)
        self.register_buffer("vertex_joint", body.weights.argmax(1))

    @property
    def num_vertices(self) -> int:
        """Number of vertices V."""
        return self.body.num_points

    def pose(self, rotations: Tensor, translation: Tensor,
             shape: Tensor | None = None) -> CompactBodyOutput:
        """Posed vertices (``points``) and joints, camera frame."""
        return self.body(rotations, translation, shape)

    def rest_vertices(self, shape: Tensor | None = None) -> Tensor:  # -> [B, V, 3]
        """Rest-pose vertices (pelvis at the origin); mean shape when ``shape`` is None."""
        if shape is None:
            shape = self.body.joint_template.new_zeros(1, self.body.num_shape)
        return self.body.rest(shape)[0]

    def save(self, path: str | Path) -> None:
        """Write the mesh to a versioned .npz file."""
        arrays = {f"body/{k}": v for k, v in self.body.state().items()}
        arrays.update(faces=self.faces.cpu().numpy().astype(np.int32),
                      vertex_kernel=self.vertex_kernel.cpu().numpy().astype(np.int32))
        save_versioned(path, FORMAT, VERSION, arrays)

    @classmethod
    def load(cls, path: str | Path) -> BodyMesh:
        """Read a mesh written by ``save``; a clear error for other files."""
        data = load_versioned(path, FORMAT, VERSION, "body mesh")
        body = CompactBody.from_state(sub_arrays(data, "body"))
        return cls(body, data["faces"], data["vertex_kernel"])

    @classmethod
    def default(cls) -> BodyMesh:
        """The shipped Anny mesh (models/anny_mesh.npz)."""
        from nbf_ros.paths import find_model_file

        return cls.load(find_model_file(DEFAULT_FILE))


def build_mesh(body_model: BodyModel, volume: NeuralBodyVolume) -> BodyMesh:
    """Export every vertex of ``body_model`` and label it with the nearest kernel at rest."""
    faces = body_model.faces.cpu().numpy()
    num_v = int(faces.max()) + 1
    face_of = np.zeros(num_v, dtype=np.int64)
    for corner in range(3):
        face_of[faces[:, corner]] = np.arange(len(faces))
    corner = np.argmax(faces[face_of] == np.arange(num_v)[:, None], axis=1)
    body = body_model.export_compact(face_of, np.eye(3)[corner])
    with torch.no_grad():
        verts = body.rest(torch.zeros(1, body.num_shape))[0][0]
        kernels = volume.body.rest(torch.zeros(1, volume.body.num_shape))[0][0]
        nearest = torch.cdist(verts, kernels).argmin(1)
    return BodyMesh(body, faces, nearest)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: build and save the mesh file."""
    from nbf_ros.nbv.build import DEFAULT_PATH as VOLUME_PATH

    parser = argparse.ArgumentParser(prog="python -m nbf_ros.synth.mesh", description=__doc__)
    parser.add_argument("--out", type=Path, default=VOLUME_PATH.parent / DEFAULT_FILE)
    parser.add_argument("--volume", type=Path, default=VOLUME_PATH,
                        help="Neural Body Volume whose kernels label the vertices")
    args = parser.parse_args(argv)
    from nbf_ros.body.anny_body import AnnyBody  # heavy: imported only when building

    started = time.perf_counter()
    mesh = build_mesh(AnnyBody(), NeuralBodyVolume.load(args.volume))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    mesh.save(args.out)
    print(f"wrote {args.out} ({mesh.num_vertices} vertices, {len(mesh.faces)} faces, "
          f"{args.out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
