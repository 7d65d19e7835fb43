"""The feature network: an encoder-decoder to stride 4 with the heads fitting needs.

Heads (all at stride 4 but the regression):
- ``features``: D-dim unit vectors matched to the Neural Body Volume's kernel features;
- ``heatmaps``: one map per SMPL-24 joint (2D keypoints, occluded joints included);
- ``centre`` (logit) and ``size`` (box width and height / input size) for people detection;
- ``pose``: the subject's pose as 6D rotations (Zhou et al., CVPR 2019) of every joint, root
  in the camera frame, plus shape offsets, from the deepest features pooled to 4 x 4.

Two encoders (``NetworkConfig.backbone``): ``small``, residual blocks of 3x3 convolutions with
widths set by ``NetworkConfig`` (sized for real time on a CPU, trained from scratch), and
``efficientnet_lite0`` (``nbf_ros.vision.backbone``, ImageNet-pretrained when a run starts).
Both feed the same top-down decoder and heads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nbf_ros.vision.backbone import LITE0_SKIP_WIDTHS, EfficientNetLite0

__all__ = ["STRIDE", "UPRIGHT_ROOT_6D", "FeatureNet", "NetOutput", "NetworkConfig",
           "check_images", "rotation_6d_to_matrix"]

STRIDE = 4  # input pixels per output cell of every map head
# First two columns of the root rotation of a person upright before a camera: body +x on
# camera +x, body up (+y) on camera up (-y; camera y points down).
UPRIGHT_ROOT_6D = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
BACKBONES = ("small", "efficientnet_lite0")


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture settings saved with the weights."""

    feature_dim: int = 64
    num_joints: int = 24
    num_shape: int = 6
    widths: tuple[int, ...] = (16, 24, 40, 64, 96)  # stem, then strides 4, 8, 16, 32
    decoder_width: int = 48
    blocks: int = 2  # residual blocks per encoder stage
    # Encoder: "small" (widths and blocks above) or "efficientnet_lite0" (fixed widths).
    backbone: str = "small"

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"network backbone {self.backbone!r} is not one of {BACKBONES}")

    def to_dict(self) -> dict:
        """Plain-data form for saving."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> NetworkConfig:
        """Inverse of ``to_dict``."""
        data = dict(data)
        data["widths"] = tuple(data["widths"])
        return cls(**data)


@dataclass
class NetOutput:
    """Raw head outputs for a batch of images of size H x W (maps at H/4 x W/4)."""

    features: Tensor  # [B, D, h, w] unit vectors
    heatmaps: Tensor  # [B, J, h, w] logits
    centre: Tensor  # [B, 1, h, w] logits
    size: Tensor  # [B, 2, h, w] box width, height as fractions of the input width, height
    pose6d: Tensor  # [B, J, 6]
    shape: Tensor  # [B, S]


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class _Block(nn.Module):
    """Residual block of two 3x3 convolutions (He et al., 2016)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.body(x) + self.skip(x))


def _head(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cin, 3, 1, 1), nn.ReLU(inplace=True),
                         nn.Conv2d(cin, cout, 1))


def check_images(images: Tensor) -> None:
    """ValueError unless ``images`` is a float batch [B, 3, H, W] with H, W multiples of 32."""
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[0] < 1:
        raise ValueError(f"images: expected [B, 3, H, W] with B >= 1, got "
                         f"{tuple(images.shape)}")
    if images.shape[2] % 32 or images.shape[3] % 32 or images.shape[2] == 0 \
            or images.shape[3] == 0:
        raise ValueError(f"images: height and width must be positive multiples of 32, got "
                         f"{tuple(images.shape[2:])}")
    if not images.is_floating_point():
        raise ValueError(f"images: expected floats in [0, 1], got {images.dtype}")


class FeatureNet(nn.Module):
    """Encoder-decoder feature network; input RGB in [0, 1], H and W multiples of 32."""

    # Per-channel normalisation of the input (ImageNet statistics, a common convention).
    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or NetworkConfig()
        d = cfg.decoder_width
        if cfg.backbone == "efficientnet_lite0":
            self.backbone = EfficientNetLite0()
            skips = LITE0_SKIP_WIDTHS
            # The regression pools the deepest map after its lateral projection: 320
            # channels x 16 cells would put 1.3 M weights into its first layer alone.
            pooled = d * 16
            mean, std = (0.5,) * 3, (0.5,) * 3  # the Lite models' own input scaling
        else:
            w = cfg.widths
            self.stem = _conv_bn(3, w[0], 2)
            stages = []
            for cin, cout in zip(w[:-1], w[1:], strict=True):
                blocks = [_Block(cin, cout, 2)] + [_Block(cout, cout, 1)
                                                   for _ in range(cfg.blocks - 1)]
                stages.append(nn.Sequential(*blocks))
            self.stages = nn.ModuleList(stages)
            skips, pooled = w[1:], w[-1] * 16
            mean, std = self.MEAN, self.STD
        # Top-down path (FPN-like): lateral 1x1 projections of strides 32..4, summed upwards.
        self.lateral = nn.ModuleList(nn.Conv2d(c, d, 1) for c in skips)
        self.smooth = nn.ModuleList(_conv_bn(d, d) for _ in skips[:-1])
        self.feature_head = _head(d, cfg.feature_dim)
        self.heatmap_head = _head(d, cfg.num_joints)
        self.centre_head = _head(d, 1)
        self.size_head = _head(d, 2)
        # The pose needs to know where things are: the deepest map is pooled to a 4 x 4 grid
        # (a global average alone left the regression at the mean pose).
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.regressor = nn.Sequential(
            nn.Linear(pooled + d, 256), nn.ReLU(inplace=True),
            nn.Linear(256, cfg.num_joints * 6 + cfg.num_shape))
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        # Detection heads start predicting "no person" (CenterNet's prior, Zhou et al. 2019).
        nn.init.constant_(self.centre_head[-1].bias, -2.19)
        nn.init.constant_(self.heatmap_head[-1].bias, -2.19)
        with torch.no_grad():
            # Start the regression at the rest pose, standing upright before the camera.
            # The root must not start at the identity: that puts body up (+y) on camera
            # down (+y), exactly opposite the truth's second column, where the 6D loss has
            # no gradient (a unit vector at its antipode); a model trained from there kept
            # its root upside down and bent its hips and spine back by half turns.
            last = self.regressor[-1]
            last.weight.mul_(0.01)
            last.bias.zero_()
            last.bias[: cfg.num_joints * 6].copy_(
                torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).repeat(cfg.num_joints))
            last.bias[:6].copy_(torch.tensor(UPRIGHT_ROOT_6D))

    def encode(self, x: Tensor) -> list[Tensor]:  # [B, 3, H, W] normalised
        """The encoder's maps at strides 4, 8, 16 and 32."""
        if self.config.backbone == "efficientnet_lite0":
            return self.backbone(x)
        x = self.stem(x)
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return skips

    def forward(self, image: Tensor) -> NetOutput:
        """Heads for a batch of RGB images [B, 3, H, W] in [0, 1]."""
        check_images(image)
        skips = self.encode((image - self.mean) / self.std)
        deepest = top = self.lateral[-1](skips[-1])
        for i in range(len(skips) - 2, -1, -1):
            top = F.interpolate(top, size=skips[i].shape[-2:], mode="nearest")
            top = self.smooth[i](top + self.lateral[i](skips[i]))
        cfg = self.config
        deepest = skips[-1] if cfg.backbone == "small" else deepest
        pooled = torch.cat((self.pool(deepest).flatten(1), top.mean((2, 3))), 1)
        reg = self.regressor(pooled)
        return NetOutput(
            features=F.normalize(self.feature_head(top), dim=1),
            heatmaps=self.heatmap_head(top),
            centre=self.centre_head(top),
            size=self.size_head(top),
            pose6d=reg[:, : cfg.num_joints * 6].view(-1, cfg.num_joints, 6),
            shape=reg[:, cfg.num_joints * 6:],
        )


def rotation_6d_to_matrix(d6: Tensor) -> Tensor:  # [..., 6] -> [..., 3, 3]
    """Rotation from its first two columns, made orthonormal (Zhou et al., CVPR 2019)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), -1)
