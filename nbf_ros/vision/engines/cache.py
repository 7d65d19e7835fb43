"""Files that engines build once and reuse: the exported ONNX graph, TensorRT engines.

Each file name carries a hash of everything its content depends on, so a changed model,
exporter or GPU gives a new file instead of a stale one, and a second start finds the first
one's file. The name alone is not trusted: beside each file, ``<file>.json`` records what it
was built from (the model file's SHA-256 and the settings) and the SHA-256 of its bytes. A
file whose record is missing, names other inputs, or whose bytes changed since (a copy from
another machine, a truncated write, a file swapped in) is built again, never loaded.
Folder: ``$NBF_ROS_ENGINE_CACHE``, else ``$XDG_CACHE_HOME/nbf_ros/engines``
(``~/.cache/nbf_ros/engines``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from nbf_ros.vision.network import FeatureNet

__all__ = ["CACHE_ENV", "cache_dir", "cache_key", "ensure_onnx", "model_hash", "onnx_parts",
           "onnx_path", "read_cached", "untrusted", "write_atomic", "write_cached"]

CACHE_ENV = "NBF_ROS_ENGINE_CACHE"
_log = logging.getLogger(__name__)
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


def onnx_parts(net: FeatureNet, model_path: str | Path | None, opset: int) -> dict[str, Any]:
    """What an ONNX export depends on: the weights' hash, the opset, torch and the code."""
    return {"model": model_hash(net, model_path), "opset": opset, "torch": torch.__version__,
            "code": _code_hash()}


def onnx_path(net: FeatureNet, model_path: str | Path | None, opset: int,
              parts: dict[str, Any] | None = None) -> Path:
    """Where the ONNX export of this model, opset, torch and code lives in the cache
    (``parts``: onnx_parts(), when already at hand)."""
    key = cache_key(parts or onnx_parts(net, model_path, opset))
    stem = Path(model_path).stem if model_path is not None else "feature_net"
    return cache_dir() / f"{stem}-{key}.onnx"


def _record_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.json")


def _plain(parts: dict[str, Any]) -> Any:
    """``parts`` as its JSON record reads back (tuples as lists, other objects as text)."""
    return json.loads(json.dumps(parts, sort_keys=True, default=str))


def _write_record(path: Path, digest: str, parts: dict[str, Any]) -> None:
    record = {"sha256": digest, "built_from": _plain(parts)}
    write_atomic(_record_path(path), (json.dumps(record, sort_keys=True) + "\n").encode())


def write_cached(path: Path, data: bytes, parts: dict[str, Any]) -> None:
    """Write a cache file and its record: the hash of ``data`` and what it was built from."""
    write_atomic(path, data)
    _write_record(path, hashlib.sha256(data).hexdigest(), parts)


def _mistrust(path: Path, parts: dict[str, Any]) -> tuple[str | None, str | None]:
    """(why the file cannot be trusted for ``parts`` or None, its recorded hash)."""
    if not path.is_file():
        return "not built yet", None
    try:
        record = json.loads(_record_path(path).read_text())
    except (OSError, ValueError):
        return "no record of what it was built from", None
    if not isinstance(record, dict) or record.get("built_from") != _plain(parts):
        return "its record names other inputs", None
    return None, record.get("sha256")


def untrusted(path: Path, parts: dict[str, Any]) -> str | None:
    """Why the cache file at ``path`` is not the one ``parts`` build (None when it is)."""
    problem, digest = _mistrust(path, parts)
    if problem is None and digest != _file_hash(path):
        problem = "its bytes changed since it was built"
    return problem


def read_cached(path: Path, parts: dict[str, Any]) -> bytes | None:
    """The bytes of the cache file at ``path`` when ``parts`` built them, else None (the
    bytes checked are the bytes returned)."""
    problem, digest = _mistrust(path, parts)
    if problem is not None:
        return None
    data = path.read_bytes()
    return data if hashlib.sha256(data).hexdigest() == digest else None


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

    parts = onnx_parts(net, model_path, opset)
    path = onnx_path(net, model_path, opset, parts)
    problem = untrusted(path, parts)
    if problem is None:
        return path, False
    if path.is_file():
        _log.warning("exporting %s again: %s", path, problem)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.onnx")
    try:
        export_onnx(net, tmp, opset=opset)
        digest = _file_hash(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _write_record(path, digest, parts)
    return path, True
