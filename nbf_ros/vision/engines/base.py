"""What every inference engine of the feature network is: images in, ``NetOutput`` out.

An engine wraps one way of running the same FeatureNet (plain torch, torch.compile,
ONNX Runtime, TensorRT). The pipeline calls it on two kinds of input: the detection frame,
scaled to a longer side of ``detect_size`` (256 px) and padded to multiples of 32, and
batches of N person crops of ``crop_size`` (128 px); so batch, height and width all vary
from call to call. Outputs are float32 on the pipeline's device, whatever the engine ran in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from nbf_ros.vision.network import NetOutput, check_images

__all__ = ["Engine", "EngineUnavailable", "check_images", "net_output"]


class EngineUnavailable(RuntimeError):
    """An engine that cannot run here; the message says why (one line, for a log)."""


def net_output(heads: Sequence[Tensor], renormalise: bool = False) -> NetOutput:
    """NetOutput from its fields in declaration order (an exported graph's outputs), as
    float32; ``renormalise`` makes the features unit vectors again (after a half-precision
    run their norms drift by ~1e-3, and fitting compares them by dot products)."""
    out = NetOutput(*(h.float() for h in heads))
    if renormalise:
        out.features = F.normalize(out.features, dim=1)
    return out


class Engine(ABC):
    """Runs the feature network: ``engine(images)`` with images [B, 3, H, W] in [0, 1] on the
    pipeline's device gives the network's ``NetOutput`` there (float32)."""

    name: str = ""  # the engine parameter value that selects it: torch, onnxruntime, ...
    device: torch.device
    # Whether its work is torch kernels on the device alone, so that a CUDA graph can
    # capture a call (ONNX Runtime and TensorRT run outside torch's streams).
    graph_safe: bool = False

    def __init__(self) -> None:
        # Engines the "auto" choice tried before this one, with why each could not be used.
        self.skipped: list[tuple[str, str]] = []

    @property
    @abstractmethod
    def description(self) -> str:
        """One line: backend and version, precision, device, providers."""

    @abstractmethod
    def _run(self, images: Tensor) -> NetOutput:  # [B, 3, H, W] -> heads
        """The heads of checked images."""

    def __call__(self, images: Tensor) -> NetOutput:  # [B, 3, H, W] -> heads
        """The network's heads for RGB images [B, 3, H, W] in [0, 1], H and W multiples of 32."""
        check_images(images)
        return self._run(images)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description})"
