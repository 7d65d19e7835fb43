"""Choosing the inference engine by name, with "auto" trying the fastest one that works.

    engine = create_engine("auto", net, model_path, device)
    engine.name, engine.description, engine.skipped   # what runs, and why not the others

Order of "auto" (first that works): TensorRT, torch.compile, ONNX Runtime, plain torch.
TensorRT is tried on CUDA only, as it needs it. "auto" passes over torch.compile on both
devices (name it to use it): on the 2-core CPU compiling took about 55 s for the first
input shape and 40 s for each new one, too slow for a node start; on an NVIDIA H200
(2026-11-26, bench/results/engines_cuda.md) the compiled FP16 network ran a crop in 2.8 ms
against eager torch's 2.3 ms (this network is too small for FP16 to pay; launches bound
it), took 35 s to create, and recompiled for new batch sizes during the pipeline benchmark.
ONNX Runtime comes before torch: on that CPU it
ran a crop and a detection frame 1.5 to 2.2 times faster than eager torch
(bench/results/engines_cpu.md), and under a training run's load it kept its speed where
torch's OpenMP threads stalled for about a second per call. On CUDA "auto" passes over it
too: the pipeline replays plain torch's network, with the crops before it and the readout
after it, from one CUDA graph (0.2 to 0.3 ms per frame for the crops on an H200,
bench/results/speed_cuda_torch_compiled_reduced.md), and ONNX Runtime's calls cannot join
a torch graph; its CUDA speed is unmeasured (the project's GPU machine has ONNX Runtime's
CPU provider only).
"""

from __future__ import annotations

from pathlib import Path

import torch

from nbf_ros.vision.engines.base import Engine, EngineUnavailable
from nbf_ros.vision.network import FeatureNet

__all__ = ["AUTO_ORDER", "ENGINE_NAMES", "create_engine"]

AUTO_ORDER = ("tensorrt", "compiled", "onnxruntime", "torch")
ENGINE_NAMES = ("auto", *AUTO_ORDER)
# Engines "auto" passes over on a device type, and why (a line for the node's log).
_AUTO_SKIPS = {
    "cpu": {
        "tensorrt": "needs a CUDA device; the pipeline runs on the CPU",
        "compiled": "on the CPU compiling takes about a minute per input shape (set engine "
                    "compiled to use it anyway)",
    },
    "cuda": {
        "compiled": "on an H200 the compiled network was slower per call than eager torch "
                    "(2.8 vs 2.3 ms a crop) and compiled for 35 s and again for new batch "
                    "sizes (set engine compiled to use it anyway)",
        "onnxruntime": "on CUDA the torch engine's network and readout replay from one CUDA "
                       "graph, which ONNX Runtime's calls cannot join (set engine onnxruntime "
                       "to use it anyway)",
    },
}


def _make(name: str, net: FeatureNet, model_path: str | Path | None, device: torch.device,
          crop_size: int, detect_size: int, max_batch: int) -> Engine:
    """The engine ``name``, or EngineUnavailable saying why it cannot run here."""
    # Imported here: each backend module only loads what it needs when it is chosen.
    if name == "torch":
        from nbf_ros.vision.engines.torch_engine import TorchEngine

        return TorchEngine(net, device)
    if name == "compiled":
        from nbf_ros.vision.engines.compiled_engine import CompiledEngine

        # One crop compiles now: a missing C++ compiler or Triton shows up here.
        return CompiledEngine(net, device, warmup=[(1, 3, crop_size, crop_size)])
    if name == "onnxruntime":
        from nbf_ros.vision.engines.onnxruntime_engine import OnnxRuntimeEngine

        return OnnxRuntimeEngine(net, device, model_path)
    if name == "tensorrt":
        from nbf_ros.vision.engines.tensorrt_engine import TensorRTEngine, profile_shapes

        return TensorRTEngine(net, device, model_path,
                              profile=profile_shapes(crop_size, detect_size, max_batch))
    raise ValueError(f"unknown engine {name!r}; use one of {', '.join(ENGINE_NAMES)}")


def create_engine(name: str, net: FeatureNet, model_path: str | Path | None = None,
                  device: torch.device | str = "cpu", *, crop_size: int = 128,
                  detect_size: int = 256, max_batch: int = 32) -> Engine:
    """The engine ``name`` (one of ENGINE_NAMES) running ``net`` on ``device``.

    ``model_path`` is the file ``net`` was loaded from (keys the ONNX/TensorRT caches);
    ``crop_size``, ``detect_size`` and ``max_batch`` are the input sizes to prepare for.
    A named engine that cannot run here raises EngineUnavailable with the reason; "auto"
    returns the first of AUTO_ORDER that works, with ``skipped`` listing (engine, reason)
    for those before it.
    """
    if name not in ENGINE_NAMES:
        raise ValueError(f"unknown engine {name!r}; use one of {', '.join(ENGINE_NAMES)}")
    device = torch.device(device)
    sizes = {"crop_size": crop_size, "detect_size": detect_size, "max_batch": max_batch}
    if name != "auto":
        return _make(name, net, model_path, device, **sizes)
    skips = _AUTO_SKIPS.get(device.type, {})
    skipped: list[tuple[str, str]] = []
    for candidate in AUTO_ORDER:
        if candidate in skips:
            skipped.append((candidate, skips[candidate]))
            continue
        try:
            engine = _make(candidate, net, model_path, device, **sizes)
        except EngineUnavailable as exc:
            skipped.append((candidate, str(exc)))
            continue
        engine.skipped = skipped
        return engine
    raise AssertionError("unreachable: the torch engine always works")
