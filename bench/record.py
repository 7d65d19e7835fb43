"""Recording benchmark results: one JSON per benchmark, one entry per device, a Markdown
table beside it. Entries of other devices are kept, so CPU and GPU runs share a file."""

from __future__ import annotations

import datetime
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def device_name(device: torch.device) -> str:
    """Human name of the device: the GPU's name, or the CPU with its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def environment(device: torch.device) -> dict[str, Any]:
    """What every result records about where it was measured."""
    return {
        "device": device_name(device), "device_type": device.type,
        "date": datetime.date.today().isoformat(), "torch": torch.__version__,
        "python": platform.python_version(),
    }


def save(name: str, entry: dict[str, Any],
         markdown: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """Merge ``entry`` into results/<name>.json under its ``key`` (default: its device
    type), write <name>.md
    from all entries, and return them."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = load(name)
    runs[entry.get("key", entry["device_type"])] = entry
    (RESULTS / f"{name}.json").write_text(json.dumps(runs, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(runs))
    return runs


def load(name: str) -> dict[str, Any]:
    """All recorded entries of a benchmark, by device type."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}
