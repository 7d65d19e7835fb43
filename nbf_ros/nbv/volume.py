"""The Neural Body Volume: Gaussian kernels on the body surface with learned features.

About 858 kernels (3DNBF samples SMPL 8x sparser) are placed evenly on the mean body's
surface; their centres follow the body through a CompactBody (linear blend skinning).
Each kernel stores ``NB`` unit feature vectors, one per orientation bin of its bone's
direction relative to the camera (3DNBF: 3 bins of the depth component, soft-weighted),
and the volume stores a bank of clutter (background) features.

Saved as a versioned ``.npz`` (``FORMAT``/``VERSION`` keys) that holds everything fitting
needs, so a machine running the node needs neither the body model's package nor its data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nbf_ros.body.base import BodyModel
from nbf_ros.body.compact import CompactBody, CompactBodyOutput
from nbf_ros.nbv.sampling import farthest_point_sampling
from nbf_ros.npz_format import load_versioned, save_versioned, sub_arrays

__all__ = ["FORMAT", "VERSION", "NeuralBodyVolume", "build_volume", "volume_from_body"]

FORMAT = "nbf_ros.neural_body_volume"
VERSION = 1


class NeuralBodyVolume(nn.Module):
    """Kernels (centres via a CompactBody, radii, features) and the clutter feature bank."""

    def __init__(
        self,
        body: CompactBody,
        sigma: np.ndarray | Tensor,  # [K] kernel radii, metres
        features: np.ndarray | Tensor,  # [K, NB, D] per-bin kernel features
        clutter: np.ndarray | Tensor,  # [C, D] clutter features
        joint_kernel_weights: np.ndarray | Tensor,  # [J, K] rows sum to 1
        bin_width: float = 0.5,
    ) -> None:
        super().__init__()
        as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        sigma, features, clutter, jkw = map(as_t, (sigma, features, clutter,
                                                   joint_kernel_weights))
        num_k, num_j = body.num_points, body.num_joints
        if sigma.shape != (num_k,):
            raise ValueError(f"sigma: expected shape ({num_k},), got {tuple(sigma.shape)}")
        if features.dim() != 3 or features.shape[0] != num_k:
            raise ValueError(f"features: expected [{num_k}, NB, D], got {tuple(features.shape)}")
        if clutter.dim() != 2 or clutter.shape[1] != features.shape[2]:
            raise ValueError(f"clutter: expected [C, {features.shape[2]}], got "
                             f"{tuple(clutter.shape)}")
        if jkw.shape != (num_j, num_k):
            raise ValueError(f"joint_kernel_weights: expected ({num_j}, {num_k}), got "
                             f"{tuple(jkw.shape)}")
        self.body = body
        self.bin_width = float(bin_width)
        self.register_buffer("sigma", sigma)
        self.register_buffer("features", F.normalize(features, dim=-1))
        self.register_buffer("gram", torch.einsum("knd,kld->knl", self.features, self.features))
        self.register_buffer("clutter", F.normalize(clutter, dim=-1))
        self.register_buffer("joint_kernel_weights", jkw)
        self.register_buffer("kernel_joint", body.weights.argmax(1))
        nb = features.shape[1]
        self.register_buffer("bin_centres", torch.linspace(-1.0, 1.0, nb) if nb > 1
                             else torch.zeros(1))
        self.register_buffer("bone_axis", _rest_bone_axes(body))

    @property
    def num_kernels(self) -> int:
        """Number of kernels K."""
        return self.sigma.shape[0]

    @property
    def feature_dim(self) -> int:
        """Feature dimension D."""
        return self.features.shape[-1]

    @torch.no_grad()
    def set_features(self, features: Tensor, clutter: Tensor | None = None) -> None:
        """Replace the kernel features [K, NB, D] (and the clutter features [C, D]) in place,
        keeping the bins' inner products (``gram``) in step with them."""
        self.features.copy_(features)
        self.gram.copy_(torch.einsum("knd,kld->knl", self.features, self.features))
        if clutter is not None:
            self.clutter.copy_(clutter)

    def pose(
        self,
        rotations: Tensor,  # [B, J, 3, 3] local rotations, root first
        translation: Tensor,  # [B, 3] pelvis position, camera frame
        shape: Tensor | None = None,  # [B, S]
    ) -> CompactBodyOutput:
        """Kernel centres (``points``) and joints in the camera frame."""
        return self.body(rotations, translation, shape)

    def bin_weights(self, posed: CompactBodyOutput) -> Tensor:  # -> [B, K, NB]
        """Soft weight of each orientation bin of each kernel, from its bone's direction."""
        axis = (posed.rotations @ self.bone_axis[:, :, None])[..., 0]  # [B, J, 3]
        depth = axis[..., 2][:, self.kernel_joint]  # [B, K] depth component of the bone
        logits = -((depth[..., None] - self.bin_centres) ** 2) / (2 * self.bin_width**2)
        return logits.softmax(-1)

    def kernel_features(self, posed: CompactBodyOutput) -> Tensor:  # -> [B, K, D]
        """Unit kernel features for the pose: the bin features mixed by ``bin_weights``."""
        mix = torch.einsum("bkn,knd->bkd", self.bin_weights(posed), self.features)
        return F.normalize(mix, dim=-1)

    def save(self, path: str | Path) -> None:
        """Write the volume to a versioned .npz file."""
        arrays = {f"body/{k}": v for k, v in self.body.state().items()}
        arrays.update(
            sigma=self.sigma.cpu().numpy(), features=self.features.cpu().numpy(),
            clutter=self.clutter.cpu().numpy(),
            joint_kernel_weights=self.joint_kernel_weights.cpu().numpy(),
            bin_width=np.array(self.bin_width),
        )
        save_versioned(path, FORMAT, VERSION, arrays)

    @classmethod
    def load(cls, path: str | Path) -> NeuralBodyVolume:
        """Read a volume written by ``save``; a clear error for other files."""
        data = load_versioned(path, FORMAT, VERSION, "Neural Body Volume")
        body = CompactBody.from_state(sub_arrays(data, "body"))
        return cls(body, data["sigma"], data["features"], data["clutter"],
                   data["joint_kernel_weights"], float(data["bin_width"]))


def _rest_bone_axes(body: CompactBody) -> Tensor:  # -> [J, 3]
    """Unit axis of each joint's bone in the rest pose: towards its children, else away
    from its parent."""
    joints = body.mean_rest()[1]
    axes = []
    for j, parent in enumerate(body.parents):
        kids = [c for c, p in enumerate(body.parents) if p == j]
        if kids:
            vec = F.normalize(joints[kids] - joints[j], dim=-1).mean(0)
        else:
            vec = joints[j] - joints[parent]
        if float(vec.norm()) < 1e-3:
            vec = torch.tensor([0.0, 1.0, 0.0])
        axes.append(F.normalize(vec, dim=0))
    return torch.stack(axes)


def smooth_random_features(
    points: np.ndarray, dim: int, bins: int, rng: np.random.Generator, neighbours: int = 8,
    bin_spread: float = 0.3,
) -> np.ndarray:  # [K, NB, D]
    """Random unit features that vary smoothly over the surface (an untrained volume).

    Neighbouring kernels get similar features, as trained ones do, which gives the fit a
    wide basin; the bins differ by a moderate perturbation.
    """
    dist = np.linalg.norm(points[:, None] - points[None], axis=-1)
    nearest = np.argsort(dist, axis=1)[:, : neighbours + 1]
    base = rng.standard_normal((len(points), dim))
    for _ in range(2):
        base = base[nearest].mean(1)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
    spread = rng.standard_normal((len(points), bins, dim)) / np.sqrt(dim)
    feats = base[:, None, :] + bin_spread * spread
    return feats / np.linalg.norm(feats, axis=-1, keepdims=True)


def build_volume(
    body_model: BodyModel,
    num_kernels: int = 858,
    feature_dim: int = 64,
    num_bins: int = 3,
    num_clutter: int = 32,
    sigma_scale: float = 0.7,
    seed: int = 0,
) -> NeuralBodyVolume:
    """Place kernels evenly on the body model's mean surface; features start untrained.

    Kernels sit on mesh vertices chosen by farthest point sampling: a vertex moves exactly
    as the body model skins it, whereas a point inside a triangle does not (blending the
    corners' weights is not blending their posed positions; up to ~1 mm on Anny).
    """
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        rest = body_model.rest_vertices(torch.zeros(1, body_model.num_shape))[0]
    verts = rest.double().cpu().numpy()
    faces = body_model.faces.cpu().numpy()
    used = np.unique(faces)  # vertices that belong to the surface
    pick = used[farthest_point_sampling(verts[used], num_kernels,
                                        start=int(rng.integers(len(used))))]
    # Express each chosen vertex as (a face holding it, one-hot barycentric coordinates).
    face_of = np.full(len(verts), -1)
    for corner in range(3):
        face_of[faces[:, corner]] = np.arange(len(faces))
    corner = np.argmax(faces[face_of[pick]] == pick[:, None], axis=1)
    bary = np.eye(3)[corner]
    return volume_from_body(body_model.export_compact(face_of[pick], bary),
                            feature_dim, num_bins, num_clutter, sigma_scale, rng)


def volume_from_body(
    body: CompactBody,
    feature_dim: int = 64,
    num_bins: int = 3,
    num_clutter: int = 32,
    sigma_scale: float = 0.7,
    rng: np.random.Generator | None = None,
) -> NeuralBodyVolume:
    """A volume whose kernels are the CompactBody's points; features start untrained."""
    rng = rng or np.random.default_rng(0)
    with torch.no_grad():
        points_t, joints_t = body.rest(torch.zeros(1, body.num_shape))
    points, joints = points_t[0].double().numpy(), joints_t[0].double().numpy()
    dist = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    spacing = np.sort(dist, axis=1)[:, :3].mean(1)  # local kernel spacing
    sigma = sigma_scale * np.clip(spacing, 0.5 * np.median(spacing), 2.0 * np.median(spacing))
    jdist = np.linalg.norm(joints[:, None] - points[None], axis=-1)  # [J, K]
    # Visibility of a joint is read from the kernels around it; the radius adapts to its
    # depth below the surface (hips and spine sit well inside the body).
    radius = 1.5 * jdist.min(1, keepdims=True)
    jkw = np.exp(-0.5 * (jdist / radius) ** 2) * (jdist < 2 * radius)
    jkw /= jkw.sum(1, keepdims=True)
    clutter = rng.standard_normal((num_clutter, feature_dim))
    return NeuralBodyVolume(
        body, sigma, smooth_random_features(points, feature_dim, num_bins, rng), clutter, jkw)
