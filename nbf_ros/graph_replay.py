"""A tensor function replayed from CUDA graphs, one graph per shape of its inputs.

On a GPU the pipeline's small per-frame work (the network on a 128 px crop, the readout,
the fit's final evaluation) launches hundreds of kernels that each run for microseconds, so
the host's launches, not the device, set the frame time (bench/results/profile_frame.md).
A CUDA graph issues them all in one launch. Graphs need fixed shapes and addresses, so
``GraphReplay`` keeps one captured graph with its own input buffers per input signature
(shapes, dtypes, devices): a call copies its tensors into that graph's buffers and replays
it. A new signature runs once eagerly on a side stream (the warm-up capture needs: cuDNN
and cuBLAS pick their algorithms and workspaces) and is then captured.

The function must be free of host synchronisation (no ``.item()``, ``.cpu()``, ``bool()`` of
a tensor) and of shape changes that depend on values; a capture that fails runs the call
eagerly, and a signature whose capture failed twice stays eager (a warning says why).
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["GraphReplay", "recover_from_failed_capture"]


class GraphReplay:
    """``fn(*tensors)`` replayed from a CUDA graph per input signature when ``enabled``
    (else called as it is). Outputs may nest tensors in tuples, lists, dicts and
    dataclasses; with ``clone`` False they are the graph's own buffers, valid until the
    next call of the same signature."""

    def __init__(self, fn: Callable[..., Any], enabled: bool = True, clone: bool = True,
                 max_graphs: int = 16) -> None:
        self.fn, self.enabled, self.clone, self.max_graphs = fn, enabled, clone, max_graphs
        self._graphs: OrderedDict[tuple, _Captured] = OrderedDict()  # most recent last
        self._failures: dict[tuple, int] = {}
        self._stream: torch.cuda.Stream | None = None
        self.replays = 0  # calls served by a graph, for tests and benchmarks
        self.captures = 0

    def __call__(self, *args: Tensor) -> Any:
        if not self.enabled or not all(isinstance(a, Tensor) and a.is_cuda for a in args):
            return self.fn(*args)
        key = tuple((tuple(a.shape), a.dtype, a.device) for a in args)
        if self._failures.get(key, 0) >= 2:
            return self.fn(*args)
        entry = self._graphs.pop(key, None)
        if entry is None:
            entry = self._capture(key, args)
            if entry is None:
                return self.fn(*args)
        else:
            for static, value in zip(entry.inputs, args, strict=True):
                static.copy_(value)
        self._graphs[key] = entry
        while len(self._graphs) > self.max_graphs:
            self._graphs.popitem(last=False)
        entry.graph.replay()
        self.replays += 1
        return _map(entry.outputs, Tensor.clone) if self.clone else entry.outputs

    def _capture(self, key: tuple, args: tuple[Tensor, ...]) -> _Captured | None:
        """Warm up and capture ``fn`` for this signature; None where the capture failed."""
        if self._stream is None:
            self._stream = torch.cuda.Stream(args[0].device if args else None)
        inputs = [a.clone() for a in args]
        stream = self._stream
        stream.wait_stream(torch.cuda.current_stream())
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.stream(stream):
                self.fn(*inputs)  # warm-up, on the stream the capture will use
            # thread_local: a pipelined node's other thread may launch or allocate while
            # this one captures; only this thread's unsafe calls would spoil the capture.
            with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
                outputs = self.fn(*inputs)
        except RuntimeError as err:
            recover_from_failed_capture(stream)
            self._failures[key] = self._failures.get(key, 0) + 1
            if self._failures[key] >= 2:
                warnings.warn(f"CUDA graph capture of {getattr(self.fn, '__name__', self.fn)} "
                              f"failed twice; running it without graphs: {err}",
                              RuntimeWarning, stacklevel=3)
            return None
        torch.cuda.current_stream().wait_stream(stream)
        self.captures += 1
        return _Captured(graph, inputs, outputs)


def recover_from_failed_capture(stream: torch.cuda.Stream) -> None:
    """Leave CUDA usable after a capture that raised: wait for the device, then complete
    one tiny capture. A capture that breaks off never closes torch's CUDA random number
    generator's capture state, and every later random op on the device then fails ("Offset
    increment outside graph capture", seen on an H200 in torch.compile's autotuning)."""
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        torch.zeros(1, device=stream.device)


@dataclasses.dataclass
class _Captured:
    """One signature's graph, the buffers it reads and the outputs it writes."""

    graph: torch.cuda.CUDAGraph
    inputs: list[Tensor]
    outputs: Any


def _map(obj: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    """``obj`` with ``fn`` applied to every tensor nested in it (other values shared)."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, tuple | list):
        return type(obj)(_map(v, fn) for v in obj)
    if isinstance(obj, dict):
        return {k: _map(v, fn) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = copy.copy(obj)  # no __init__ / __post_init__: the values are already checked
        for f in dataclasses.fields(obj):
            setattr(out, f.name, _map(getattr(obj, f.name), fn))
        return out
    return obj
