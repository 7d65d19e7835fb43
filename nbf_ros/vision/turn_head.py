"""The turn head: which way a person faces, as a distribution over turns, from the network.

A cold fit starts from several copies of the regressed body turned about its vertical axis
and keeps the best (``nbf_ros.fitting.fitter``). Behind a large occluder the fit's loss ranks
those turns badly, and the regressed root commits to one turn even where the image leaves
two open. This head gives each turn a probability instead: a small perceptron over the
feature network's outputs (``NetOutput``: pooled unit features and keypoint heatmaps, the
regressed pose), trained after the network with the network frozen
(``nbf_ros.train.turn_head``). It reads outputs, not the network's internals, so every
engine (torch, ONNX Runtime, TensorRT) feeds it unchanged.

The turn is the facing azimuth: the signed angle about the body's up axis from the body's
front to the direction of the camera, seen along the ray through the centre of the person's
crop (0: facing the camera; the crop is all the head sees). The head outputs logits over
``bins`` evenly spaced azimuths; the density at any azimuth is the mixture of von Mises
bumps one bin wide centred on them. The mirror image of a crop faces the opposite azimuth,
so ``turn_weights`` averages the head's reading of a crop and of its mirror image (test-time
flipping): the two readings err differently, and behind occluders their mean is the better
guide (README, "Which way a person faces").

A frozen network's outputs carry only so much of the turn: behind the occlusion benchmark's
worst squares the head reads some people 50 to 75 degrees off. A head may therefore bring its
own copy of the network, tuned end to end for the turn alone (``nbf-ros turn-head
--tune-scenes``): ``read_turn`` then runs that copy on the crops and their mirror images, and
the fitting network, its features and every engine stay as they were. The copy always runs
in PyTorch, and only for cold fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nbf_ros.vision.network import FeatureNet, NetOutput, NetworkConfig

__all__ = ["TURN_BINS", "TurnHead", "azimuth_density", "bin_targets", "crop_ray",
           "facing_azimuth", "head_inputs", "input_size", "mirrored_weights", "read_turn",
           "turn_weights"]

TURN_BINS = 16
_POOL = 4  # head_inputs pools the output maps to a 4 x 4 grid: where things are matters


def head_inputs(out: NetOutput) -> Tensor:  # [B, F]
    """What the head reads of the network's outputs: unit features and heatmap
    probabilities pooled to a 4 x 4 grid, the regressed 6D pose and shape."""
    features = F.adaptive_avg_pool2d(out.features, _POOL).flatten(1)
    heatmaps = F.adaptive_avg_pool2d(out.heatmaps.sigmoid(), _POOL).flatten(1)
    return torch.cat((features, heatmaps, out.pose6d.flatten(1), out.shape), 1)


def input_size(feature_dim: int, num_joints: int, num_shape: int) -> int:
    """Length of head_inputs' rows for a network of these sizes."""
    return (feature_dim + num_joints) * _POOL * _POOL + num_joints * 6 + num_shape


class TurnHead(nn.Module):
    """Logits over ``bins`` facing azimuths from head_inputs rows (standardised first);
    ``network``, when given, is the head's own tuned copy of the feature network, which
    ``read_turn`` reads crops with."""

    def __init__(self, inputs: int, bins: int = TURN_BINS, hidden: int = 256,
                 network: FeatureNet | None = None) -> None:
        super().__init__()
        if inputs < 1 or bins < 2 or hidden < 1:
            raise ValueError(f"turn head: inputs, hidden >= 1 and bins >= 2, got {inputs}, "
                             f"{hidden}, {bins}")
        self.inputs, self.bins, self.hidden = inputs, bins, hidden
        self.register_buffer("mean", torch.zeros(inputs))
        self.register_buffer("scale", torch.ones(inputs))
        self.net = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(inplace=True),
                                 nn.Dropout(0.2), nn.Linear(hidden, bins))
        self.network = network

    def forward(self, x: Tensor) -> Tensor:  # [B, bins]
        """Logits for rows [B, inputs] of head_inputs."""
        return self.net((x - self.mean) / self.scale)

    def to_file(self) -> dict[str, Any]:
        """Plain tensors and numbers, as a model file stores them (a tuned network in half
        precision: it only ranks turns, and the file stays small)."""
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()
                 if not k.startswith("network.")}
        data = {"inputs": self.inputs, "bins": self.bins, "hidden": self.hidden,
                "state": state}
        if self.network is not None:
            data["network"] = {
                "config": self.network.config.to_dict(),
                "state": {k: v.detach().cpu().half() if v.is_floating_point() else
                          v.detach().cpu() for k, v in self.network.state_dict().items()}}
        return data

    @classmethod
    def from_file(cls, data: dict[str, Any]) -> TurnHead:
        """Inverse of ``to_file`` (eval mode, float32)."""
        network = None
        if data.get("network") is not None:
            network = FeatureNet(NetworkConfig.from_dict(data["network"]["config"]))
            network.load_state_dict({k: v.float() if v.is_floating_point() else v
                                     for k, v in data["network"]["state"].items()})
        head = cls(int(data["inputs"]), int(data["bins"]), int(data["hidden"]))
        head.load_state_dict(data["state"])
        head.network = network
        return head.eval()


def crop_ray(K: Tensor, width: float, height: float) -> Tensor:  # [B, 3]
    """Unit direction, in the camera frame, of the ray through the centre of crops whose
    pixels have intrinsics K [B, 3, 3] (any unit: input pixels or feature cells)."""
    x = (width / 2 - K[:, 0, 2]) / K[:, 0, 0]
    y = (height / 2 - K[:, 1, 2]) / K[:, 1, 1]
    return F.normalize(torch.stack((x, y, torch.ones_like(x)), -1), dim=-1)


def facing_azimuth(root: Tensor, ray: Tensor) -> Tensor:  # [...]
    """Signed angle (radians) about the body's up axis from its front to the camera, for
    root rotations [..., 3, 3] (body to camera; body +y up, +z front) seen along ``ray``
    [..., 3] (from the camera towards the body): positive when the camera lies
    counter-clockwise from the front, looking down the up axis (right-hand rule)."""
    up, front = root[..., :, 1], root[..., :, 2]
    toward = -ray.to(root.dtype)
    front = front - (front * up).sum(-1, keepdim=True) * up
    toward = toward - (toward * up).sum(-1, keepdim=True) * up
    return torch.atan2((up * torch.linalg.cross(front, toward, dim=-1)).sum(-1),
                       (front * toward).sum(-1))


def _centres(bins: int, like: Tensor) -> Tensor:
    return torch.arange(bins, device=like.device, dtype=like.dtype) * (2 * math.pi / bins)


def _kappa(bins: int) -> float:
    """Concentration of one bin's von Mises bump: a standard deviation of one bin width."""
    return 1.0 / (2 * math.pi / bins) ** 2


def bin_targets(azimuth: Tensor, bins: int = TURN_BINS) -> Tensor:  # [N, bins]
    """Soft training targets: Gaussian weights (half a bin wide) on the bins around each
    azimuth [N], summing to 1 (a sharp one-bin label would make the density jump)."""
    centres = _centres(bins, azimuth)
    gap = torch.remainder(azimuth[:, None] - centres + math.pi, 2 * math.pi) - math.pi
    w = torch.exp(-0.5 * (gap / (math.pi / bins)) ** 2)
    return w / w.sum(1, keepdim=True)


def azimuth_density(weights: Tensor, azimuth: Tensor) -> Tensor:  # [B, H]
    """Density (per radian) at azimuths [B, H] of the mixture with bin weights [B, bins]."""
    bins = weights.shape[-1]
    kappa = _kappa(bins)
    centres = _centres(bins, azimuth)
    bumps = torch.exp(kappa * (torch.cos(azimuth[..., None] - centres) - 1))  # [B, H, bins]
    norm = 2 * math.pi * float(torch.special.i0e(torch.tensor(kappa, dtype=torch.float64)))
    return (weights.to(azimuth.dtype)[:, None] * bumps).sum(-1) / norm


def mirrored_weights(weights: Tensor) -> Tensor:  # [B, bins]
    """Bin weights [B, bins] of the mirror image: azimuth a becomes -a, bin k becomes -k."""
    bins = weights.shape[-1]
    return weights[:, (-torch.arange(bins, device=weights.device)) % bins]


def turn_weights(head: TurnHead, out: NetOutput, mirrored: NetOutput) -> Tensor:  # [B, bins]
    """Bin weights of each crop's facing azimuth: the mean of the head's softmax on the crop
    (``out``) and, mirrored back, on its mirror image (``mirrored``, the network's outputs
    for the horizontally flipped crops)."""
    plain = torch.softmax(head(head_inputs(out)), -1)
    flipped = torch.softmax(head(head_inputs(mirrored)), -1)
    return 0.5 * (plain + mirrored_weights(flipped))


def read_turn(head: TurnHead, crops: Tensor, out: NetOutput,
              engine: Callable[[Tensor], NetOutput]) -> Tensor:  # [B, bins]
    """Bin weights of the facing azimuth of each crop [B, 3, S, S]: ``turn_weights`` over
    the head's own network's outputs for the crops and their mirror images, or, for a head
    without one, over ``out`` (the engine's outputs for the crops) and the engine's for the
    mirror images."""
    mirror = torch.flip(crops, (-1,))
    if head.network is None:
        return turn_weights(head, out, engine(mirror))
    with torch.no_grad():
        return turn_weights(head, head.network(crops), head.network(mirror))
