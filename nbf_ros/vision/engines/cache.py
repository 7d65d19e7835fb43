"""Files that engines build once and reuse: the exported ONNX graph, TensorRT engines.

Each file name carries a hash of everything its content depends on, so a changed model,
exporter or GPU gives a new file instead of a stale one, and a second start finds the first
one's file. Folder: ``$NBF_ROS_ENGINE_CACHE``, else ``$XDG_CACHE_HOME/nbf_ros/engines``
(``~/.cache/nbf_ros/engines``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from nbf_ros.vision.network import FeatureNet

__all__ = ["CACHE_ENV", "cache_dir", "cache_key", "ensure_onnx", "model_hash", "onnx_path",
           "write_atomic"]

CACHE_ENV = "NBF_ROS_ENGINE_CACHE"
_SOURCES = ("network.py", "export.py")  # the code that shapes the exported graph


def cache_dir() -> Path:
    """The engine cache folder (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
    return base / "nbf_ros" / "engines"


def cache_key(parts: dict[str, Any]) -> str:
    """16 hex digits of a hash of ``parts`` (JSON-serialisable values; key order ignored)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_hash(net: FeatureNet, model_path: str | Path | None = None) -> str:
    """Hash of the weights: of the model file when given (cheap), else of the state dict."""
    if model_path is not None:
        return _file_hash(Path(model_path))
    digest = hashlib.sha256(json.dumps(net.config.to_dict(), sort_keys=True).encode())
    for name, value in net.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _code_hash() -> str:
    """Hash of the network and exporter source: a graph depends on the code, not only on
    the weights (an edited forward with the same model file must re-export)."""
    here = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def onnx_path(net: FeatureNet, model_path: str | Path | None, opset: int) -> Path:
    """Where the ONNX export of this model, opset, torch and code lives in the cache."""
    key = cache_key({"model": model_hash(net, model_path), "opset": opset,
                     "torch": torch.__version__, "code": _code_hash()})
    stem = Path(model_path).stem if model_path is not None else "feature_net"
    return cache_dir() / f"{stem}-{key}.onnx"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so that a reader
    (another node starting at the same time) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def ensure_onnx(net: FeatureNet, model_path: str | Path | None, opset: int
                ) -> tuple[Path, bool]:
    """The cached ONNX file of ``net`` (exported first when missing) and whether this call
    exported it. ImportError when onnx/onnxscript are missing; exporter errors pass on."""
    from nbf_ros.vision.export import export_onnx

    path = onnx_path(net, model_path, opset)
    if path.is_file():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.onnx")
    try:
        export_onnx(net, tmp, opset=opset)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path, True
