"""`nbf-ros export`: the feature network as an ONNX file, and a TensorRT engine on request.

    nbf-ros export --model nbf_anny_net.pt --out export/ --check

writes export/nbf_anny_net.onnx (input ``images`` [B, 3, H, W], all three dynamic; outputs
named as NetOutput's fields). ``--engine tensorrt`` also builds export/nbf_anny_net.engine
for this GPU (TensorRT >= 10 and CUDA needed; the node's tensorrt engine builds and caches
the same on its own). ``--check`` runs the ONNX file with ONNX Runtime on random images of
two shapes and prints the largest absolute difference of each output to torch.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from nbf_ros.cli import UsageError

__all__ = ["CHECK_SHAPES", "TOLERANCE", "add_arguments", "run"]

# A batch of person crops and a detection frame, as the pipeline runs them.
CHECK_SHAPES = ((2, 3, 128, 128), (1, 3, 192, 256))
TOLERANCE = 1e-3  # largest absolute difference accepted by --check (float32 both sides)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the export verb."""
    from nbf_ros.vision.export import DEFAULT_OPSET
    from nbf_ros.vision.weights import DEFAULT_MODEL

    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"model file: a path or a name in models/ (default {DEFAULT_MODEL})")
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--engine", choices=("onnx", "tensorrt"), default="onnx",
                        help="onnx: the ONNX file; tensorrt: also a TensorRT engine for this "
                             "GPU (default onnx)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--device", default="cuda",
                        help="CUDA device the TensorRT engine is built for (default cuda)")
    parser.add_argument("--check", action="store_true",
                        help="compare ONNX Runtime's outputs with torch's on random images")


def _load(model: str):  # noqa: ANN202 - (FeatureNet, Path)
    """The network of a model file and its path; UsageError when it cannot be read."""
    from nbf_ros.vision.weights import load_model, resolve_model_path

    try:
        path = resolve_model_path(model)
        net, _, _ = load_model(path, "cpu")
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    return net, path


def _tensorrt_device(name: str):  # noqa: ANN202 - torch.device
    """The CUDA device to build on; UsageError when TensorRT or CUDA is missing."""
    import torch

    from nbf_ros.vision.engines import EngineUnavailable
    from nbf_ros.vision.engines.tensorrt_engine import import_tensorrt

    try:
        import_tensorrt()
    except EngineUnavailable as exc:
        raise UsageError(f"--engine tensorrt: {exc}") from exc
    from nbf_ros.device import resolve_device

    try:
        device = resolve_device(name)
    except ValueError as exc:
        raise UsageError(f"--engine tensorrt: {exc}") from exc
    if device.type != "cuda" or not torch.cuda.is_available():
        raise UsageError(f"--engine tensorrt needs a CUDA device, got {name!r}")
    return device


def _check(net, onnx_file: Path) -> bool:  # noqa: ANN001 - FeatureNet
    """Print the largest absolute difference of each output to torch for CHECK_SHAPES;
    whether all are within TOLERANCE."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from nbf_ros.vision.export import INPUT_NAME, OUTPUT_NAMES

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    print(f"check: ONNX Runtime {ort.__version__} against torch, largest absolute difference")
    print(f"  {'input':<16}" + "".join(f"{name:>10}" for name in OUTPUT_NAMES))
    worst = 0.0
    generator = torch.Generator().manual_seed(0)
    for shape in CHECK_SHAPES:
        images = torch.rand(shape, generator=generator)
        with torch.no_grad():
            ref = net(images)
        outs = session.run(list(OUTPUT_NAMES), {INPUT_NAME: images.numpy()})
        diffs = [float(np.abs(out - getattr(ref, name).numpy()).max())
                 for name, out in zip(OUTPUT_NAMES, outs, strict=True)]
        worst = max(worst, *diffs)
        label = "x".join(str(s) for s in shape)
        print(f"  {label:<16}" + "".join(f"{d:>10.1e}" for d in diffs))
    ok = worst <= TOLERANCE
    print(f"check: {'ok' if ok else 'FAILED'} (largest {worst:.1e}, tolerance {TOLERANCE:.0e})")
    return ok


def run(args: argparse.Namespace) -> int:
    """Write the ONNX file (and the engine); 0, or 1 when --check finds a difference."""
    net, model_path = _load(args.model)
    device = _tensorrt_device(args.device) if args.engine == "tensorrt" else None
    if args.check:
        try:
            import onnxruntime  # noqa: F401 - only whether it imports
        except ImportError as exc:
            raise UsageError("--check needs ONNX Runtime (pip install onnxruntime, or the "
                             "nbf_ros[onnx] extra)") from exc
    from nbf_ros.vision.export import export_onnx

    onnx_file = args.out / f"{model_path.stem}.onnx"
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a folder")
    started = time.perf_counter()
    try:
        export_onnx(net, onnx_file, opset=args.opset)
    except ImportError as exc:
        raise UsageError(str(exc)) from exc
    size = onnx_file.stat().st_size / 2**20
    print(f"wrote {onnx_file} (opset {args.opset}, {size:.1f} MiB, "
          f"{time.perf_counter() - started:.1f} s)")
    if device is not None:
        from nbf_ros.vision.engines.cache import onnx_parts, onnx_path, untrusted, write_cached
        from nbf_ros.vision.engines.tensorrt_engine import TensorRTEngine

        parts = onnx_parts(net, model_path, args.opset)
        cached = onnx_path(net, model_path, args.opset, parts)
        if untrusted(cached, parts):  # the engine builds from the cache: spare a second export
            write_cached(cached, onnx_file.read_bytes(), parts)
        engine = TensorRTEngine(net, device, model_path, opset=args.opset)
        engine_file = args.out / f"{model_path.stem}.engine"
        shutil.copyfile(engine.engine_file, engine_file)
        print(f"wrote {engine_file} ({engine.description})")
    return 0 if not args.check or _check(net, onnx_file) else 1
