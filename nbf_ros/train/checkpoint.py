"""Training checkpoints that stay under a file size limit (for committing a run to git).

A checkpoint of a network with its AdamW moments is three times the weights (about 41 MB for
the EfficientNet-Lite0 network); a repository keeps every file under 16 MiB. A checkpoint
that fits is one file, ``checkpoint.pt``; a larger one is the same bytes cut into parts,
``checkpoint.pt.<hash>.000``, ``.001``, ..., listed with their SHA-256 in
``checkpoint.pt.parts.json``. Nothing is rounded or left out, so a resume from parts is
exact. The list is written last and replaced atomically, and parts carry the hash of the
whole, so a crash mid-write leaves the previous checkpoint readable.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

__all__ = ["PART_BYTES", "checkpoint_exists", "load_checkpoint", "save_checkpoint"]

PART_BYTES = 15 * 2**20


def _index(path: Path) -> Path:
    return path.with_name(path.name + ".parts.json")


def checkpoint_exists(path: str | Path) -> bool:
    """Whether a checkpoint (one file or parts) is at ``path``."""
    path = Path(path)
    return path.is_file() or _index(path).is_file()


def save_checkpoint(state: dict[str, Any], path: str | Path,
                    part_bytes: int = PART_BYTES) -> list[Path]:
    """Write ``state`` at ``path`` (one file, or parts of at most ``part_bytes``); the files."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    index = _index(path)
    stale = list(path.parent.glob(path.name + ".*.[0-9][0-9][0-9]"))
    if len(data) <= part_bytes:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        index.unlink(missing_ok=True)
        written = [path]
    else:
        written = []
        for n, start in enumerate(range(0, len(data), part_bytes)):
            part = path.with_name(f"{path.name}.{digest[:12]}.{n:03d}")
            chunk = data[start:start + part_bytes]
            tmp = part.with_name(part.name + ".tmp")
            tmp.write_bytes(chunk)
            tmp.replace(part)
            written.append(part)
        listing = {"sha256": digest, "bytes": len(data),
                   "parts": [{"file": p.name, "sha256": hashlib.sha256(
                       data[i * part_bytes:(i + 1) * part_bytes]).hexdigest()}
                             for i, p in enumerate(written)]}
        tmp = index.with_name(index.name + ".tmp")
        tmp.write_text(json.dumps(listing, indent=1) + "\n")
        tmp.replace(index)
        path.unlink(missing_ok=True)
        written.append(index)
    for old in stale:
        if old not in written:
            old.unlink(missing_ok=True)
    return written


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (tensors only)."""
    path = Path(path)
    index = _index(path)
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    if not index.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    listing = json.loads(index.read_text())
    chunks = []
    for part in listing["parts"]:
        file = path.with_name(part["file"])
        if not file.is_file():
            raise FileNotFoundError(f"checkpoint part {file} is missing")
        chunks.append(file.read_bytes())
    data = b"".join(chunks)
    if hashlib.sha256(data).hexdigest() != listing["sha256"]:
        raise ValueError(f"checkpoint parts of {path} do not add up to the listed SHA-256 "
                         f"(a part is damaged or from another checkpoint)")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
