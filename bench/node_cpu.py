"""The pose node under a live 30 Hz 640 x 480 camera stream for 60 s (CPU machine).

    python bench/node_cpu.py [--seconds 60] [--fps 30]

A synthetic 3 s bag (two to three people, occluders) is played in a loop at its real rate by
a separate process into the node (its own process), and a third process records what the
node publishes, all over real DDS on loopback. Each configuration gets a fresh node. The
node's resident memory is sampled ten times a second from /proc. Recorded per configuration:
latency from image stamp to reception of the poses (p50/p95/max), answered and dropped
frames, and memory after warm-up (first 10 s) versus the end.

Writes bench/results/node_cpu.json and node_cpu.png (memory and latency over time).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

# The repository root, so that nbf_ros imports without an install (as on the GPU machine).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import RESULTS, environment  # noqa: E402

# What each run changes from config/pose.yaml.
CONFIGS = {
    "defaults": {},  # the shipped parameters: 120 cold / 20 warm fitting steps, no budget
    "time budget 100 ms": {"fit_time_budget_ms": 100.0},
    # The CPU real-time settings (bench/results/cpu_10fps.md), one worker thread...
    "5 warm steps": {"tracking_iterations": 5},
    # ...and two (network | fit), which split the cores (cpu_threads 0: one each here).
    "5 warm steps, pipelined": {"tracking_iterations": 5, "pipelined": True},
}
WARM_UP = 10.0  # seconds of the stream before memory counts as settled


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MiB, None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


def measure(name: str, overrides: dict, bag: Path, frames: int, loops: int, work: Path) -> dict:
    """One fresh node under the looped stream; its figures."""
    from nbf_ros.io.bag_reader import read_messages
    from nbf_ros.io.convert import stamp_to_ns
    from nbf_ros.node_settings import default_settings
    from nbf_ros.replay.live import run_live
    from nbf_ros.replay.summary import summarize

    params = dict(default_settings(), **overrides)
    samples: list[tuple[float, float]] = []
    start = [0.0]

    def sample(node) -> None:  # noqa: ANN001 - subprocess.Popen
        if not start[0]:
            start[0] = time.monotonic()
        value = rss_mb(node.pid)
        if value is not None:
            samples.append((time.monotonic() - start[0], value))

    run = run_live(bag, work / name.replace(" ", "_"), params, frames, loop=loops,
                   on_tick=sample, idle=15.0)
    summary = summarize(run, bag)
    t = np.array([s[0] for s in samples])
    mem = np.array([s[1] for s in samples])
    settled = mem[t >= WARM_UP]
    sent = [json.loads(line) for line in run.sent.read_text().splitlines()]
    stamps = [int(row["stamp_ns"]) for row in sent]
    latency = [((stamp_to_ns(m.header.stamp) - stamps[0]) / 1e9,
                (r - stamp_to_ns(m.header.stamp)) / 1e6)
               for r, m in read_messages(run.outputs, "/humans/poses")]
    return {
        "parameters": overrides, "frames_sent": summary["frames_sent"],
        "frames_answered": summary["frames_answered"], "drop_rate": summary["drop_rate"],
        "output_rate_hz": summary["output_rate_hz"], "latency_ms": summary["latency_ms"],
        "stream_seconds": (stamps[-1] - stamps[0]) / 1e9,
        "people_per_frame": summary["people_per_frame"],
        "rss_mb": {"after_warm_up": float(settled[0]) if settled.size else None,
                   "end": float(mem[-1]) if mem.size else None,
                   "max": float(mem.max()) if mem.size else None,
                   "growth_after_warm_up": float(settled[-1] - settled[0])
                   if settled.size else None,
                   # Least-squares slope over the settled part: a leak shows as a steady rise.
                   "slope_mb_per_min": float(np.polyfit(t[t >= WARM_UP], settled, 1)[0] * 60)
                   if settled.size > 2 else None},
        "node_processing_p50_ms": float(summary["node_diagnostics"].get(
            "processing p50 (ms)", "nan")),
        "series": {"t": t.round(2).tolist(), "rss_mb": mem.round(1).tolist(),
                   "latency": latency},
    }


def plot(results: dict, png: Path) -> None:
    """Memory and latency over the stream, one line per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for name, run in results["runs"].items():
        series = run["series"]
        top.plot(series["t"], series["rss_mb"], label=name)
        if series["latency"]:
            t, lat = zip(*series["latency"], strict=True)
            bottom.plot(t, lat, ".", ms=4, label=name)
    top.axvline(WARM_UP, color="grey", ls=":", lw=1)
    top.set_ylabel("node resident memory (MiB)")
    top.legend()
    bottom.set_ylabel("latency, stamp to reception (ms)")
    bottom.set_xlabel("stream time (s)")
    env = results["environment"]
    fig.suptitle(f"pose node under a {results['stream']['fps']:g} Hz 640x480 stream, "
                 f"{env['date']}\n{env['device']}", fontsize=9)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def markdown(results: dict) -> str:
    """The table of node_cpu.md."""
    env = results["environment"]
    lines = [f"# Pose node under a live stream ({env['date']}, {env['device']}, torch "
             f"{env['torch']})", "",
             f"{results['stream']['fps']:g} Hz, {results['stream']['size'][0]} x "
             f"{results['stream']['size'][1]}, {results['stream']['seconds']:g} s "
             "(`python bench/node_cpu.py`); plot: node_cpu.png.", "",
             "| configuration | answered / sent | drop rate | latency p50 / p95 / max (ms) | "
             "node processing p50 (ms) | RSS after 10 s -> end (MiB) | RSS slope (MiB/min) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, run in results["runs"].items():
        lat, mem = run["latency_ms"], run["rss_mb"]
        lines.append(
            f"| {name} | {run['frames_answered']} / {run['frames_sent']} | "
            f"{run['drop_rate']:.1%} | {lat['p50']:.0f} / {lat['p95']:.0f} / {lat['max']:.0f} | "
            f"{run['node_processing_p50_ms']:.0f} | {mem['after_warm_up']:.0f} -> "
            f"{mem['end']:.0f} | {mem['slope_mb_per_min']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--config", action="append", choices=sorted(CONFIGS),
                        help="run only these configurations (default: all)")
    args = parser.parse_args()
    import torch

    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.sequences import SequenceConfig, write_sequence_bag

    frames = int(round(3 * args.fps))
    loops = max(1, int(round(args.seconds * args.fps / frames)))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bag = work / "stream"
        seq = SequenceConfig(frames=frames, fps=args.fps)
        write_sequence_bag(bag, BodyMesh.default(), 21, replace(seq), progress=True)
        runs = {name: measure(name, CONFIGS[name], bag, frames, loops, work)
                for name in (args.config or CONFIGS)}
    env = environment(torch.device("cpu"))
    env["device"] += " (node process; player and recorder share the machine)"
    results = {"environment": env, "stream": {"fps": args.fps, "seconds": args.seconds,
                                              "size": [640, 480]}, "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "node_cpu.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, RESULTS / "node_cpu.png")
    (RESULTS / "node_cpu.md").write_text(markdown(results))
    for name, run in runs.items():
        print(f"{name}: answered {run['frames_answered']}/{run['frames_sent']}, drop rate "
              f"{run['drop_rate']}, latency {run['latency_ms']}, memory {run['rss_mb']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
