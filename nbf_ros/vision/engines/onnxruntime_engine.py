"""ONNX Runtime engine: the exported graph (nbf_ros.vision.export) run by onnxruntime.

The ONNX file is exported on first use and cached (engines/cache.py), so later starts only
load it. Providers: CUDA, then CPU, among ``onnxruntime.get_available_providers()``. On the
CPU, inputs and outputs go through numpy without copies (``Tensor.numpy``,
``torch.from_numpy``). On CUDA, I/O binding hands ONNX Runtime the torch tensors' device
pointers, the outputs being allocated by torch: no host round trip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from nbf_ros.vision.engines.base import Engine, EngineUnavailable, net_output
from nbf_ros.vision.engines.cache import ensure_onnx
from nbf_ros.vision.export import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAMES
from nbf_ros.vision.network import STRIDE, FeatureNet, NetOutput, NetworkConfig

__all__ = ["OnnxRuntimeEngine", "output_shapes"]

ORT_MISSING = ("ONNX Runtime is not installed (pip install onnxruntime, or onnxruntime-gpu "
               "for CUDA; both come with the nbf_ros[onnx] extra's onnx and onnxscript)")


def output_shapes(config: NetworkConfig, batch: int, height: int, width: int
                  ) -> dict[str, tuple[int, ...]]:
    """Shape of each output for images [batch, 3, height, width], by output name."""
    h, w = height // STRIDE, width // STRIDE
    return {"features": (batch, config.feature_dim, h, w),
            "heatmaps": (batch, config.num_joints, h, w), "centre": (batch, 1, h, w),
            "size": (batch, 2, h, w), "pose6d": (batch, config.num_joints, 6),
            "shape": (batch, config.num_shape)}


def _first_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:300]}"


class OnnxRuntimeEngine(Engine):
    """An ``onnxruntime.InferenceSession`` of the exported network, float32."""

    name = "onnxruntime"

    def __init__(self, net: FeatureNet, device: torch.device | str,
                 model_path: str | Path | None = None, opset: int = DEFAULT_OPSET) -> None:
        """``model_path``: the file ``net`` came from (its hash keys the cache)."""
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise EngineUnavailable(ORT_MISSING) from err
        self.device = torch.device(device)
        self.config = net.config
        available = ort.get_available_providers()
        if self.device.type == "cuda":
            if "CUDAExecutionProvider" not in available:
                raise EngineUnavailable(
                    f"ONNX Runtime has no CUDAExecutionProvider here (providers: "
                    f"{', '.join(available)}); install onnxruntime-gpu to run it on "
                    f"{self.device}")
            self._device_id = (self.device.index if self.device.index is not None
                               else torch.cuda.current_device())
            providers: list = [("CUDAExecutionProvider", {"device_id": self._device_id}),
                               "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        try:
            self.onnx_file, self.exported = ensure_onnx(net, model_path, opset)
        except ImportError as err:
            raise EngineUnavailable(str(err)) from err
        except Exception as err:  # the exporter raises many types; all mean "no graph"
            raise EngineUnavailable(f"ONNX export failed ({_first_line(err)})") from err
        options = ort.SessionOptions()
        # The same thread budget as torch (the node's cpu_threads), not one per core.
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        # No busy-waiting of idle workers after a run: the fitter's torch threads run next
        # on the same cores (on the 2-core machine, under load, a crop took 8.4 ms with
        # spinning and 4.5 ms without).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.onnx_file), options,
                                                providers=providers)
        except Exception as err:  # a broken cache file or provider: say which, move on
            raise EngineUnavailable(f"ONNX Runtime cannot load {self.onnx_file} "
                                    f"({_first_line(err)})") from err
        self.providers = self.session.get_providers()
        self.version = ort.__version__

    @property
    def description(self) -> str:
        """One line: backend and version, precision, device, providers."""
        return (f"ONNX Runtime {self.version}, float32, {self.device}, providers "
                f"{', '.join(self.providers)}")

    def _run(self, images: Tensor) -> NetOutput:  # [B, 3, H, W] -> heads
        x = images.detach().to(torch.float32).contiguous()
        if self.device.type == "cuda":
            return net_output(self._run_cuda(x))
        outs = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: x.cpu().numpy()})
        return net_output([torch.from_numpy(o).to(self.device) for o in outs])

    def _run_cuda(self, x: Tensor) -> list[Tensor]:  # [B, 3, H, W] on CUDA -> heads
        """One run with I/O bound to torch CUDA memory."""
        shapes = output_shapes(self.config, x.shape[0], x.shape[2], x.shape[3])
        outs = [torch.empty(shapes[name], dtype=torch.float32, device=self.device)
                for name in OUTPUT_NAMES]
        binding = self.session.io_binding()
        binding.bind_input(INPUT_NAME, "cuda", self._device_id, np.float32, tuple(x.shape),
                           x.data_ptr())
        for name, out in zip(OUTPUT_NAMES, outs, strict=True):
            binding.bind_output(name, "cuda", self._device_id, np.float32, tuple(out.shape),
                                out.data_ptr())
        # ONNX Runtime works on its own CUDA stream: torch's pending work that writes x must
        # be done first. Run() synchronises its stream before returning, so the outputs are
        # complete for torch afterwards.
        torch.cuda.current_stream(self.device).synchronize()
        self.session.run_with_iobinding(binding)
        return outs
