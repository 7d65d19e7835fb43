"""Running the front end's real-trained models: LiteRT for ``.tflite``, ONNX Runtime for ``.onnx``.

Both run on the CPU here; the front end's work is small next to the fit (a few ms per person)
and runs in the pipeline's first half, which a pipelined node overlaps with the previous
frame's fit (see doc/frontend.md). Neither runtime is imported until a model is loaded, so
the core imports without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["ModelRunner", "RuntimeUnavailable"]


class RuntimeUnavailable(RuntimeError):
    """The runtime a model file needs is not installed (the message says which package)."""


def _cpu_threads() -> int:
    """Threads for one model: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class ModelRunner:
    """One model file, called on float32 arrays; outputs in the file's own order."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"front-end model {self.path} not found")
        threads = threads or _cpu_threads()
        suffix = self.path.suffix.lower()
        if suffix == ".tflite":
            try:
                from ai_edge_litert.interpreter import Interpreter
            except ImportError as err:
                raise RuntimeUnavailable(
                    f"{self.path.name} needs LiteRT: pip install ai-edge-litert") from err
            self._interp = Interpreter(model_path=str(self.path), num_threads=threads)
            self._interp.allocate_tensors()
            self._input = self._interp.get_input_details()[0]
            self.input_shape = tuple(int(s) for s in self._input["shape"])
            self._outputs = [d["index"] for d in self._interp.get_output_details()]
            self._session = None
        elif suffix == ".onnx":
            try:
                import onnxruntime as ort
            except ImportError as err:
                raise RuntimeUnavailable(
                    f"{self.path.name} needs ONNX Runtime: pip install onnxruntime") from err
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.log_severity_level = 3  # warnings about unused initialisers are noise
            self._session = ort.InferenceSession(str(self.path), options,
                                                 providers=["CPUExecutionProvider"])
            first = self._session.get_inputs()[0]
            self._input_name = first.name
            self.input_shape = tuple(s if isinstance(s, int) else 1 for s in first.shape)
        else:
            raise ValueError(f"{self.path.name}: expected a .tflite or .onnx model")

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        """Outputs for a float32 input batch shaped like the model's input (batch 1 for
        LiteRT: larger batches run one item at a time and are stacked)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self._session is not None:
            return list(self._session.run(None, {self._input_name: batch}))
        outs: list[list[np.ndarray]] = []
        for item in batch:
            self._interp.set_tensor(self._input["index"], item[None])
            self._interp.invoke()
            outs.append([self._interp.get_tensor(i).copy() for i in self._outputs])
        return [np.concatenate(parts) for parts in zip(*outs, strict=True)]
