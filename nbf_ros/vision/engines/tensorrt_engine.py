"""TensorRT engine (TensorRT >= 10 Python API): the exported ONNX graph built into an FP16
engine for this GPU, run on torch's CUDA stream with torch-allocated buffers (no pycuda).

Building takes a minute or more, so the serialized engine is cached (engines/cache.py) under
a key of everything it depends on: GPU name and compute capability, TensorRT version, model
hash, precision and the optimisation profile's shapes. One profile covers both kinds of
input: the detection frame (batch 1, longer side ``detect_size``) and the person crops
(batch up to ``max_batch``, ``crop_size`` square); larger batches run in chunks.

Tested here only up to what needs no TensorRT (profile, cache key, the unavailable errors):
TensorRT cannot be installed on the project's machines.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nbf_ros.vision.engines.base import Engine, EngineUnavailable, net_output
from nbf_ros.vision.engines.cache import (
    cache_dir,
    cache_key,
    ensure_onnx,
    model_hash,
    read_cached,
    write_cached,
)
from nbf_ros.vision.export import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAMES
from nbf_ros.vision.network import FeatureNet, NetOutput

__all__ = ["TRT_MISSING", "ProfileShapes", "TensorRTEngine", "engine_cache_key",
           "engine_cache_parts", "import_tensorrt", "profile_shapes"]

TRT_MISSING = ("TensorRT is not installed (pip install tensorrt: TensorRT >= 10 for the "
               "machine's CUDA 12 or 13, see NVIDIA's TensorRT installation guide)")
_log = logging.getLogger(__name__)

Shape = tuple[int, int, int, int]  # [B, 3, H, W]


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, or EngineUnavailable saying why it cannot be used."""
    try:
        import tensorrt as trt
    except ImportError as err:
        raise EngineUnavailable(TRT_MISSING) from err
    except Exception as err:  # a wheel without its CUDA libraries raises OSError
        raise EngineUnavailable(f"TensorRT does not import ({type(err).__name__}: {err})") \
            from err
    major = int(str(trt.__version__).split(".")[0])
    if major < 10:
        raise EngineUnavailable(f"TensorRT {trt.__version__} is installed; nbf_ros needs "
                                f"TensorRT >= 10 (pip install -U tensorrt)")
    return trt


@dataclass(frozen=True)
class ProfileShapes:
    """A TensorRT optimisation profile of the input: smallest, tuned-for and largest shape."""

    min: Shape
    opt: Shape
    max: Shape

    def covers(self, shape: tuple[int, ...]) -> bool:
        """Whether an input of ``shape`` lies inside the profile."""
        return all(lo <= s <= hi for lo, s, hi in zip(self.min, shape, self.max, strict=True))


def profile_shapes(crop_size: int = 128, detect_size: int = 256, max_batch: int = 32
                   ) -> ProfileShapes:
    """The profile for a pipeline with these crop and detection sizes (pixels, multiples of
    32) and up to ``max_batch`` crops at once (the node's max_people is at most 32)."""
    if crop_size % 32 or detect_size % 32 or min(crop_size, detect_size) < 32:
        raise ValueError(f"crop_size and detect_size must be positive multiples of 32, got "
                         f"{crop_size} and {detect_size}")
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    # The detection frame's longer side is detect_size and its shorter side any multiple of
    # 32 below, so H and W each range from 32 up to the larger of the two sizes. Tuned for
    # one crop: what the node runs for every tracked person, every frame.
    side = max(crop_size, detect_size)
    return ProfileShapes(min=(1, 3, 32, 32), opt=(1, 3, crop_size, crop_size),
                         max=(max_batch, 3, side, side))


def engine_cache_parts(gpu_name: str, compute_capability: tuple[int, int], trt_version: str,
                       model: str, profile: ProfileShapes, precision: str = "float16"
                       ) -> dict[str, Any]:
    """What a serialized engine is built from: it only loads on the same GPU kind and
    TensorRT version, and only holds the weights and input shapes it was built for."""
    return {"gpu": gpu_name, "sm": list(compute_capability), "trt": trt_version,
            "model": model, "profile": asdict(profile), "precision": precision}


def engine_cache_key(gpu_name: str, compute_capability: tuple[int, int], trt_version: str,
                     model: str, profile: ProfileShapes, precision: str = "float16") -> str:
    """Cache key of a serialized engine (a hash of engine_cache_parts)."""
    return cache_key(engine_cache_parts(gpu_name, compute_capability, trt_version, model,
                                        profile, precision))


def _torch_dtype(trt: Any, dtype: Any) -> torch.dtype:
    """torch dtype of a TensorRT tensor dtype (the graph's I/O is float32 or float16)."""
    table = {trt.float32: torch.float32, trt.float16: torch.float16}
    if dtype not in table:
        raise EngineUnavailable(f"TensorRT engine has an I/O tensor of type {dtype}; "
                                "expected float32 or float16")
    return table[dtype]


def _build(trt: Any, logger: Any, onnx_file: Path, profile: ProfileShapes, fp16: bool
           ) -> bytes:
    """Serialized engine built from an ONNX file for one optimisation profile."""
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch: the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_file)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineUnavailable(f"TensorRT cannot parse {onnx_file.name}: {errors}")
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    shapes = builder.create_optimization_profile()
    shapes.set_shape(INPUT_NAME, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(shapes)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineUnavailable("TensorRT could not build the engine (its log above says why)")
    return bytes(serialized)


class TensorRTEngine(Engine):
    """A TensorRT engine of the exported network: FP16 kernels, float32 inputs and outputs,
    features made unit vectors again in float32."""

    name = "tensorrt"

    def __init__(self, net: FeatureNet, device: torch.device | str,
                 model_path: str | Path | None = None, profile: ProfileShapes | None = None,
                 fp16: bool = True, opset: int = DEFAULT_OPSET) -> None:
        """``model_path``: the file ``net`` came from (its hash keys the cache)."""
        super().__init__()
        trt = import_tensorrt()
        self.device = torch.device(device)
        if self.device.type != "cuda":
            raise EngineUnavailable(f"TensorRT needs a CUDA device; the pipeline runs on "
                                    f"{self.device}")
        if self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.profile = profile or profile_shapes()
        self.fp16 = fp16
        self.version = str(trt.__version__)
        props = torch.cuda.get_device_properties(self.device)
        self.gpu_name = props.name
        parts = engine_cache_parts(props.name, (props.major, props.minor), self.version,
                                   model_hash(net, model_path), self.profile,
                                   "float16" if fp16 else "float32")
        stem = Path(model_path).stem if model_path is not None else "feature_net"
        self.engine_file = cache_dir() / f"{stem}-{cache_key(parts)}.engine"
        self._logger = trt.Logger(trt.Logger.WARNING)
        # Only an engine whose record says these parts built these very bytes is loaded.
        data = read_cached(self.engine_file, parts)
        self.built = data is None
        if data is None:
            data = self._build_engine(trt, net, model_path, opset)
            write_cached(self.engine_file, data, parts)
        with torch.cuda.device(self.device):
            # The runtime must outlive the engine it deserialised: both are kept.
            self._runtime = trt.Runtime(self._logger)
            self._engine = self._runtime.deserialize_cuda_engine(data)
            if self._engine is None:
                raise EngineUnavailable(f"TensorRT cannot load {self.engine_file}; delete it "
                                        "to rebuild")
            self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        outputs = {n for n in names
                   if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT}
        if outputs != set(OUTPUT_NAMES) or INPUT_NAME not in names:
            raise EngineUnavailable(f"{self.engine_file} has tensors {names}; expected "
                                    f"{INPUT_NAME} and {', '.join(OUTPUT_NAMES)}")
        self._dtypes = {n: _torch_dtype(trt, self._engine.get_tensor_dtype(n)) for n in names}

    def _build_engine(self, trt: Any, net: FeatureNet, model_path: str | Path | None,
                      opset: int) -> bytes:
        """Export (or reuse) the ONNX graph and build the serialized engine from it."""
        try:
            onnx_file, _ = ensure_onnx(net, model_path, opset)
        except ImportError as err:
            raise EngineUnavailable(str(err)) from err
        _log.info("building a TensorRT engine for %s (once; cached as %s)", self.gpu_name,
                  self.engine_file)
        return _build(trt, self._logger, onnx_file, self.profile, self.fp16)

    @property
    def description(self) -> str:
        """One line: backend and version, precision, device, profile."""
        lo, hi = self.profile.min, self.profile.max
        precision = "float16" if self.fp16 else "float32"
        return (f"TensorRT {self.version}, {precision}, {self.device} ({self.gpu_name}), "
                f"profile batch {lo[0]}-{hi[0]}, {lo[2]}-{hi[2]} x {lo[3]}-{hi[3]} px")

    def _run(self, images: Tensor) -> NetOutput:  # [B, 3, H, W] -> heads
        x = images.detach().to(self._dtypes[INPUT_NAME]).contiguous()
        one = (1, *x.shape[1:])
        if not self.profile.covers(one):
            raise ValueError(f"images {tuple(x.shape)}: height and width outside the "
                             f"TensorRT profile ({self.profile.min[2]}-{self.profile.max[2]} x "
                             f"{self.profile.min[3]}-{self.profile.max[3]} px)")
        # Batches above the profile's largest run in chunks of that size.
        chunks = [self._run_chunk(c) for c in x.split(self.profile.max[0])]
        heads = [torch.cat(parts) if len(parts) > 1 else parts[0]
                 for parts in zip(*chunks, strict=True)]
        # Half precision leaves the features' norms ~1e-3 off one; fitting compares them
        # by dot products, so they are made unit vectors again in float32.
        return net_output(heads, renormalise=self.fp16)

    def _run_chunk(self, x: Tensor) -> list[Tensor]:  # [b, 3, H, W] -> heads, b <= max
        """One execution on torch's current stream (the context is not thread-safe: one
        engine serves one worker thread, as in the node)."""
        ctx = self._context
        if not ctx.set_input_shape(INPUT_NAME, tuple(x.shape)):
            raise ValueError(f"TensorRT refused input shape {tuple(x.shape)}")
        ctx.set_tensor_address(INPUT_NAME, x.data_ptr())
        outs = []
        for name in OUTPUT_NAMES:
            out = torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=self._dtypes[name],
                              device=self.device)
            ctx.set_tensor_address(name, out.data_ptr())
            outs.append(out)
        # Same stream as torch: the kernels that wrote x run before, and the ones that read
        # the outputs after, with no synchronisation; torch's caching allocator reuses x's
        # memory only for later work on this stream, so freeing it early is safe.
        stream = torch.cuda.current_stream(self.device)
        if not ctx.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed (its log says why)")
        return outs
