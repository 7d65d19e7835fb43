"""The depth twin of a posed body: the body reflected through the image-parallel plane of
its pelvis.

A body and its twin cover nearly the same pixels (exactly so through an orthographic
camera), yet where one faces the camera the other faces away, with left and right swapped:
the front/back ambiguity of monocular pose (Sminchisescu and Triggs, CVPR 2003, call the
reflection a kinematic flip). Where the body shows kernel k at a pixel, its twin shows the
left-right mirror of the kernel on the body's far surface there, and since the reflection
reverses every bone's depth component, that kernel's orientation bins are reversed too.

A fit can only tell a pose from its twin if the image features tell these two kernels
apart; ``nbf_ros.eval.network_eval`` measures how often they do (front/back accuracy).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.body.compact import CompactBodyOutput
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.raster import rasterize

__all__ = ["far_kernels", "front_back_hits", "mirror_kernels", "scored_twins", "twin_features"]


def mirror_kernels(volume: NeuralBodyVolume) -> Tensor:  # -> [K] long
    """Each kernel's left-right counterpart: the kernel nearest its mirrored rest position."""
    rest = volume.body.mean_rest()[0]
    mirrored = rest * rest.new_tensor([-1.0, 1.0, 1.0])  # the body's sagittal plane is x = 0
    return torch.cdist(mirrored, rest).argmin(1)


@torch.no_grad()
def far_kernels(mesh: BodyMesh, rotations: Tensor, translation: Tensor, shape: Tensor,
                K: Tensor, height: int, width: int) -> Tensor:  # -> [H, W] long
    """Kernel of the body's far surface at each pixel centre, -1 off the body.

    rotations [J, 3, 3], translation [3] (the pelvis, camera frame), shape [S], K [3, 3].
    """
    points = mesh.pose(rotations[None], translation[None], shape[None]).points[0]
    # Each vertex slides along its camera ray to its depth reflected through the pelvis'
    # plane: every vertex keeps its pixel, and the far surface becomes the nearest one.
    depth = 2.0 * translation[2] - points[:, 2]
    raster = rasterize(points * (depth / points[:, 2])[:, None], mesh.faces, K, height, width)
    corner = raster.bary.argmax(-1, keepdim=True)
    vertex = mesh.faces[raster.face.clamp_min(0)].gather(-1, corner)[..., 0]
    return torch.where(raster.face >= 0, mesh.vertex_kernel[vertex], -1)


def twin_features(volume: NeuralBodyVolume, posed: CompactBodyOutput,
                  mirror: Tensor) -> Tensor:  # -> [B, K, D]
    """Unit feature the twin shows where the body's far surface is kernel k: kernel
    ``mirror[k]`` with the orientation bins of k's bone reversed."""
    bins = volume.bin_weights(posed).flip(-1)  # bin centres are symmetric about 0
    return F.normalize(torch.einsum("bkn,knd->bkd", bins, volume.features[mirror]), dim=-1)


def scored_twins(kernel: Tensor, far: Tensor, mirror: Tensor, neighbours: Tensor) -> Tensor:
    """Body cells where the twin shows a kernel that is not the true one's neighbour (any
    shape of visible ``kernel`` and ``far`` kernels, -1 for none): the cells worth telling
    apart. ``mirror`` [K] from mirror_kernels, ``neighbours`` [K, K] bool."""
    twin = mirror[far.clamp_min(0)]
    return (kernel >= 0) & (far >= 0) & ~neighbours[kernel.clamp_min(0), twin]


def front_back_hits(
    features: Tensor,  # [B, h, w, D] unit image features
    kernel: Tensor,  # [B, h, w] long, visible kernel per cell, -1 off the body
    far: Tensor,  # [B, h, w] long, far-surface kernel per cell (far_kernels), -1 off it
    kernel_features: Tensor,  # [B, K, D] of the true pose
    twin: Tensor,  # [B, K, D] from twin_features
    mirror: Tensor,  # [K] from mirror_kernels
    neighbours: Tensor,  # [K, K] bool, kernels too close to count as different
) -> Tensor:  # [N] bool
    """Per body cell where the twin shows a kernel that is not the true one's neighbour:
    whether the cell's feature is nearer the true kernel's feature than the twin's."""
    pair = scored_twins(kernel, far, mirror, neighbours)
    batch = torch.nonzero(pair, as_tuple=True)[0]
    feats = features[pair]
    own = (feats * kernel_features[batch, kernel[pair]]).sum(-1)
    other = (feats * twin[batch, far[pair]]).sum(-1)
    return own > other
