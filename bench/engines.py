"""Feature network latency per inference engine on this machine: the numbers "auto" is
ordered by (nbf_ros/vision/engines/select.py).

    python bench/engines.py [--device cpu] [--threads 2] [--runs 50] [--engines torch onnxruntime]

For a batch of one 128 x 128 person crop and one 192 x 256 detection frame (a 640 x 480
image at the pipeline's 256 px), each engine runs ``--runs`` timed calls after 5 warm-up
calls, in blocks of ``--block`` calls with the engines taking turns (so a load that comes
and goes on a shared machine hits all of them alike, while each block runs one engine alone
as the pipeline does). Writes bench/results/engines_<device>.md and .json: median, p10 and
p90 in milliseconds, the load average, and how long creating each engine took (an ONNX
export or a compilation the first time; cached exports load in well under a second).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nbf_ros.vision.engines import create_engine  # noqa: E402
from nbf_ros.vision.weights import DEFAULT_MODEL, load_model, resolve_model_path  # noqa: E402

SHAPES = {"crop 1x3x128x128": (1, 3, 128, 128), "frame 1x3x192x256": (1, 3, 192, 256)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(engines: dict, shape: tuple[int, ...], runs: int, block: int,
            device: torch.device) -> dict[str, list[float]]:
    """Seconds per call of each engine on random images of ``shape``: blocks of ``block``
    calls, the engines taking turns block by block."""
    images = torch.rand(shape, generator=torch.Generator().manual_seed(0)).to(device)
    times: dict[str, list[float]] = {name: [] for name in engines}
    while min(len(t) for t in times.values()) < runs:
        for name, engine in engines.items():
            for _ in range(5):  # warm-up: caches, thread pools, a first-shape compile
                engine(images)
            _sync(device)
            for _ in range(min(block, runs - len(times[name]))):
                start = time.perf_counter()
                engine(images)
                _sync(device)
                times[name].append(time.perf_counter() - start)
    return times


def _ms(values: list[float], q: float) -> float:
    """The q-th percentile of ``values`` (seconds) in milliseconds."""
    return float(np.percentile(values, q) * 1e3)


def main() -> None:
    """Measure and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, nargs="+", default=[2],
                        help="torch and ONNX Runtime threads; several: one set of rows each, "
                             "the first names the table")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--block", type=int, default=10, help="calls in a row per engine")
    parser.add_argument("--engines", nargs="+", default=["torch", "onnxruntime"])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--note", default="", help="a paragraph added below the table")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    device = torch.device(args.device)
    net, _, _ = load_model(args.model, device)
    model_path = resolve_model_path(args.model)
    rows, descriptions, created = [], {}, {}
    load_before = os.getloadavg()
    for threads in args.threads:
        torch.set_num_threads(threads)  # ONNX Runtime takes torch's count at creation
        engines = {}
        for name in args.engines:
            start = time.perf_counter()
            engines[name] = create_engine(name, net, model_path, device)
            created.setdefault(name, time.perf_counter() - start)
            descriptions[name] = engines[name].description
        for label, shape in SHAPES.items():
            times = measure(engines, shape, args.runs, args.block, device)
            for name, values in times.items():
                rows.append({"input": label, "threads": threads, "engine": name,
                             "median_ms": _ms(values, 50), "p10_ms": _ms(values, 10),
                             "p90_ms": _ms(values, 90)})
    load_after = os.getloadavg()
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU {platform.machine()}, {args.threads[0]} threads")
    data = {"date": time.strftime("%Y-%m-%d"), "device": name, "torch": torch.__version__,
            "runs": args.runs, "block": args.block,
            "load_average_1min": [load_before[0], load_after[0]],
            "engines": descriptions, "create_seconds": created, "rows": rows,
            "note": args.note}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"engines_{device.type}"
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    stem.with_suffix(".md").write_text(_markdown(data))
    print(_markdown(data))


def _markdown(data: dict) -> str:
    engines = list(data["engines"])
    lines = [f"# Feature network per engine ({data['date']}, {data['device']})", "",
             f"`python bench/engines.py`: milliseconds per call, median (p10 / p90) of "
             f"{data['runs']} calls, in blocks of {data['block']} after 5 warm-up calls, the "
             "engines taking turns block by block. "
             f"1-minute load average {data['load_average_1min'][0]:.1f} before, "
             f"{data['load_average_1min'][1]:.1f} after.", "",
             "| input | threads | " + " | ".join(engines) + " |",
             "|---|---|" + "---|" * len(engines)]
    for label, threads in dict.fromkeys((r["input"], r["threads"]) for r in data["rows"]):
        cells = [f"{r['median_ms']:.1f} ({r['p10_ms']:.1f} / {r['p90_ms']:.1f})"
                 for name in engines for r in data["rows"]
                 if (r["input"], r["threads"], r["engine"]) == (label, threads, name)]
        lines.append(f"| {label} | {threads} | " + " | ".join(cells) + " |")
    lines += ["", "Engines:", ""]
    lines += [f"- {n}: {d} (created in {data['create_seconds'][n]:.1f} s)"
              for n, d in data["engines"].items()]
    if data.get("note"):
        lines += ["", data["note"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
