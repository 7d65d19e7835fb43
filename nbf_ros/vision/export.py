"""ONNX export of the feature network, with a dynamic batch, height and width.

    export_onnx(net, "nbf_anny_net.onnx")       # inputs "images" [B, 3, H, W] float32 in [0, 1]

The graph's outputs are the fields of ``NetOutput`` in their order and under their names
(``OUTPUT_NAMES``), so an engine turns them back into a ``NetOutput`` one to one.

Exporter: ``torch.onnx.export(dynamo=True)`` (torch.export, then onnxscript). Measured with
torch 2.13 on this model: the legacy TorchScript exporter (``dynamo=False``) refuses it
("adaptive_avg_pool2d, input size not accessible" once H and W are dynamic), and the dynamo
exporter accepts it but bakes the adaptive pool's bins for the traced size into the graph,
so a 192 x 256 frame then fails in ONNX Runtime (GEMM dimension mismatch). Both come from
``nn.AdaptiveAvgPool2d``; the exported copy of the network therefore pools with
``adaptive_avg_pool_2d``, the same average written with shape-dependent tensors, which the
dynamo exporter keeps dynamic (outputs equal torch's to float rounding for any H, W).
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import fields
from pathlib import Path

import torch
from torch import Tensor, nn

from nbf_ros.vision.network import FeatureNet, NetOutput

__all__ = ["DEFAULT_OPSET", "INPUT_NAME", "OUTPUT_NAMES", "ExportableNet",
           "adaptive_avg_pool_2d", "export_onnx"]

# Opset 18: what the dynamo exporter targets natively in torch 2.11-2.13, and well inside
# what ONNX Runtime >= 1.14 and TensorRT 10's ONNX parser accept.
DEFAULT_OPSET = 18
INPUT_NAME = "images"
OUTPUT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(NetOutput))
# Shape traced by the exporter: batch 2 and a non-square image, so that no axis is taken for
# the constant 1 or tied to another (torch.export specialises sizes 0 and 1, and equal sizes
# may be unified).
_EXAMPLE_SHAPE = (2, 3, 128, 160)


def _bin_weights(size: int, bins: int, like: Tensor) -> Tensor:  # -> [bins, size]
    """Averaging weights of ``nn.AdaptiveAvgPool`` along one axis of length ``size``."""
    # Bin i covers [floor(i * size / bins), ceil((i + 1) * size / bins)), as in PyTorch.
    i = torch.arange(bins, device=like.device)
    start = (i * size) // bins
    end = ((i + 1) * size + bins - 1) // bins
    pos = torch.arange(size, device=like.device)
    inside = (pos[None] >= start[:, None]) & (pos[None] < end[:, None])
    return inside.to(like.dtype) / (end - start).to(like.dtype)[:, None]


def adaptive_avg_pool_2d(x: Tensor, bins: int) -> Tensor:  # [B, D, H, W] -> [B, D, n, n]
    """``F.adaptive_avg_pool2d(x, bins)`` as two matrix products that export with dynamic
    H and W (ONNX has no adaptive pooling op)."""
    rows = _bin_weights(x.shape[-2], bins, x)  # [n, H]
    cols = _bin_weights(x.shape[-1], bins, x)  # [n, W]
    return rows @ x @ cols.transpose(0, 1)


class _AdaptivePool(nn.Module):
    """Module form of ``adaptive_avg_pool_2d`` (replaces ``nn.AdaptiveAvgPool2d``)."""

    def __init__(self, bins: int) -> None:
        super().__init__()
        self.bins = bins

    def forward(self, x: Tensor) -> Tensor:
        return adaptive_avg_pool_2d(x, self.bins)


class ExportableNet(nn.Module):
    """A copy of a FeatureNet that returns its heads as a tuple in ``OUTPUT_NAMES`` order
    (exporters take tensors, not dataclasses) and pools with ``adaptive_avg_pool_2d``."""

    def __init__(self, net: FeatureNet) -> None:
        super().__init__()
        self.net = copy.deepcopy(net).eval()
        size = net.pool.output_size
        self.net.pool = _AdaptivePool(size if isinstance(size, int) else size[0])

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:  # [B, 3, H, W] -> heads
        out = self.net(images)
        return tuple(getattr(out, name) for name in OUTPUT_NAMES)


def export_onnx(net: FeatureNet, path: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Write ``net`` as an ONNX file with input ``images`` [B, 3, H, W] (all three dynamic)
    and the ``NetOutput`` fields as outputs; the path written.

    Needs the ``onnx`` and ``onnxscript`` packages (the ``onnx`` extra); ImportError names
    them when missing. The network runs on the CPU for the export; ``net`` is not changed.
    """
    for module in ("onnx", "onnxscript"):
        try:
            __import__(module)
        except ImportError as err:
            raise ImportError(f"ONNX export needs the {module} package (pip install "
                              f"'nbf_ros[onnx]', or pip install onnx onnxscript)") from err
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = ExportableNet(net).cpu()
    example = torch.rand(_EXAMPLE_SHAPE, generator=torch.Generator().manual_seed(0))
    dynamic = torch.export.Dim.DYNAMIC
    # The exporter reports progress and warns about optional torchvision ops through
    # warnings and the torch.onnx loggers; a node or CLI calling this wants its own output.
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, (example,), str(path), dynamo=True, opset_version=opset,
                input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                dynamic_shapes={"images": {0: dynamic, 2: dynamic, 3: dynamic}},
                external_data=False,  # one self-contained file (the weights are ~5 MB)
                verbose=False)
    finally:
        onnx_logger.setLevel(level)
    return path
