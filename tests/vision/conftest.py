"""Fixtures of the vision tests: a tiny feature model file, and an engine cache of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from nbf_ros.vision.network import FeatureNet, NetworkConfig


@pytest.fixture(scope="session")
def _engine_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine_cache")


@pytest.fixture(scope="module", autouse=True)
def engine_cache(_engine_cache_dir: Path) -> Iterator[Path]:
    """An engine cache folder of the vision tests (NBF_ROS_ENGINE_CACHE, shared by their
    modules, so an export is made once): they neither read the user's cache nor leave files
    in it. Set per module: "package" scope is the whole session in a folder without
    __init__.py, and the pipeline tests should see the usual cache."""
    from nbf_ros.vision.engines.cache import CACHE_ENV

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(_engine_cache_dir))
        yield _engine_cache_dir


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FeatureNet]:
    """A model file holding a small random FeatureNet (8 channels a stage: exports in a few
    seconds) with the shipped volume's kernel features, and that network (eval mode)."""
    from nbf_ros.nbv.volume import NeuralBodyVolume
    from nbf_ros.paths import find_model_file
    from nbf_ros.vision.weights import load_model, save_model

    volume = NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))
    torch.manual_seed(0)
    net = FeatureNet(NetworkConfig(feature_dim=volume.features.shape[-1], widths=(8,) * 5,
                                   decoder_width=8, blocks=1))
    with torch.no_grad():  # batch-norm statistics away from the identity, as after training
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("model") / "tiny_net.pt"
    save_model(path, net, volume, "nbv_anny.npz", {"purpose": "engine tests"})
    loaded, _, _ = load_model(path, "cpu")
    return path, loaded
