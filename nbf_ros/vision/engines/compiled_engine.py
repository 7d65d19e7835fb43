"""torch.compile engine: the FeatureNet compiled by Inductor, half precision on CUDA.

Mode "default", dynamic shapes: "reduce-overhead" and "max-autotune" capture CUDA graphs or
autotune per input shape, and the pipeline's shapes change with the number of people (batch)
and the frame's aspect ratio, so each new shape would pay that again. The first call
compiles (tens of seconds; about 55 s for a 128 x 128 crop on a 2-core CPU), and a new
batch or image size can compile once more; failures of the first compilation become
EngineUnavailable so that "auto" moves on to the next engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import fields

import torch
from torch import Tensor

from nbf_ros.vision.engines.base import Engine, EngineUnavailable, net_output
from nbf_ros.vision.network import FeatureNet, NetOutput

__all__ = ["PRECISIONS", "CompiledEngine"]

PRECISIONS = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def _reason(err: BaseException) -> str:
    """One line on why compilation failed: the compiler's own error where Dynamo wrapped it
    (BackendCompilerFailed and InductorError keep it as ``inner_exception``)."""
    inner = getattr(err, "inner_exception", None) or err.__cause__ or err
    first = (str(inner).strip().splitlines() or [""])[0][:300]
    return f"{type(inner).__name__}: {first}"


class CompiledEngine(Engine):
    """``torch.compile(net, dynamic=True)`` run under autocast to ``precision`` on CUDA
    (float32 on the CPU, where half precision convolutions are slower)."""

    name = "compiled"
    graph_safe = True

    def __init__(self, net: FeatureNet, device: torch.device | str,
                 precision: str = "float16", mode: str = "default",
                 backend: str | Callable = "inductor",
                 warmup: Sequence[tuple[int, int, int, int]] = ()) -> None:
        """``warmup``: input shapes [B, 3, H, W] to compile for now (a compiler that does
        not work then raises EngineUnavailable here, not on the first frame)."""
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got "
                             f"{precision!r}")
        self.device = torch.device(device)
        self.net = net.eval().to(self.device)
        self.dtype = PRECISIONS[precision] if self.device.type == "cuda" else torch.float32
        self.mode = mode
        self.backend = backend if isinstance(backend, str) else getattr(backend, "__name__", "?")
        self._compiled = torch.compile(self.net, dynamic=True, backend=backend,
                                       mode=None if mode == "default" else mode)
        self._compiled_once = False
        for shape in warmup:
            self(torch.rand(shape, device=self.device))

    @property
    def description(self) -> str:
        """One line: backend and version, precision, device."""
        precision = str(self.dtype).removeprefix("torch.")
        precision = f"{precision} autocast" if self.dtype != torch.float32 else precision
        return (f"PyTorch {torch.__version__} torch.compile ({self.backend}, mode {self.mode}, "
                f"dynamic), {precision}, {self.device}")

    def _run(self, images: Tensor) -> NetOutput:  # [B, 3, H, W] -> heads
        half = self.dtype != torch.float32
        autocast = (torch.autocast("cuda", dtype=self.dtype) if half
                    else contextlib.nullcontext())
        # no_grad, not inference_mode: see TorchEngine (the fitter differentiates through
        # products with the features).
        with torch.no_grad(), autocast:
            try:
                out = self._compiled(images)
            except Exception as err:  # Inductor and Dynamo raise many types; all mean "no"
                if self._compiled_once:
                    raise
                raise EngineUnavailable(f"torch.compile failed on its first call "
                                        f"({_reason(err)})") from err
        self._compiled_once = True
        # Half precision leaves the features' norms ~1e-3 off one; fitting compares them
        # by dot products, so they are made unit vectors again in float32.
        return net_output([getattr(out, f.name) for f in fields(NetOutput)],
                          renormalise=half)
