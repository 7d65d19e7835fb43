"""The plain PyTorch engine: the FeatureNet module itself, float32, on any device."""

from __future__ import annotations

import torch
from torch import Tensor

from nbf_ros.vision.engines.base import Engine
from nbf_ros.vision.network import FeatureNet, NetOutput

__all__ = ["TorchEngine"]


class TorchEngine(Engine):
    """Eager PyTorch: always available, the reference the other engines are compared with."""

    name = "torch"
    graph_safe = True

    def __init__(self, net: FeatureNet, device: torch.device | str) -> None:
        super().__init__()
        self.device = torch.device(device)
        self.net = net.eval().to(self.device)

    @property
    def description(self) -> str:
        """One line: backend and version, precision, device."""
        return f"PyTorch {torch.__version__} eager, float32, {self.device}"

    def _run(self, images: Tensor) -> NetOutput:  # [B, 3, H, W] -> heads
        # no_grad, not inference_mode: the fitter differentiates through products with
        # these features, and autograd refuses to save inference-mode tensors for backward.
        with torch.no_grad():
            return self.net(images)
