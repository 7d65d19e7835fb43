"""Speed of the batched fitting loop: ms per iteration and per fit for 1, 8 and 32 people.

    python bench/fitting.py [--device cuda] [--people 1 8 32] [--repeats 20]

Each person is an 80 x 80 crop of the shipped Anny volume (858 kernels, 10 kernels per
pixel: 3DNBF's scale). Three measurements per batch size:

* iteration: ms per Adam step (render + likelihood + backward + step), 20 steps, no early stop;
* warm fit: a tracking frame, FitConfig.tracking() from the previous frame's pose moved
  by a few degrees, convergence checks on (what the node runs per frame);
* cold fit: FitConfig() from a start 20 degrees off per joint, 120 steps as in 3DNBF.

Each measurement starts with one untimed fit of the same shapes; on CUDA that fit captures
the step graphs (FitConfig.cuda_graphs) and the timed fits replay them, as a node does
frame after frame.

Writes bench/results/fitting.json (one entry per device type), fitting.md and fitting.png.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import RESULTS, environment, save  # noqa: E402

from nbf_ros.fitting.config import FitConfig  # noqa: E402
from nbf_ros.fitting.fitter import Fitter  # noqa: E402
from nbf_ros.nbv.volume import NeuralBodyVolume  # noqa: E402
from nbf_ros.paths import find_model_file  # noqa: E402
from nbf_ros.synth.feature_scenes import feature_scene, perturb, random_states  # noqa: E402

SIZE = 80


def timed_fits(fitter: Fitter, cpu_volume: NeuralBodyVolume, cfg: FitConfig, people: int,
               repeats: int, start_deg: float, device: torch.device,
               seed: int) -> tuple[list[float], list[float]]:
    """Wall times (ms) and mean iterations of ``repeats`` fits after one warm-up fit; the
    scenes are drawn with ``cpu_volume``, the fitter's volume on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    truth = random_states(cpu_volume, people, gen)
    scene = feature_scene(cpu_volume, truth, gen, size=SIZE)
    start = perturb(truth, cpu_volume.body.joint_names, gen, joint_deg=start_deg,
                    root_deg=start_deg / 2, root_cm=start_deg / 2).to(device)
    features, camera = scene.features.to(device), scene.camera.to(device)
    times, iters = [], []
    for i in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        tic = time.perf_counter()
        result = fitter.fit(features, camera, start, config=cfg)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first fit warms caches and allocators
            times.append((time.perf_counter() - tic) * 1e3)
            iters.append(float(result.iterations.float().mean()))
    return times, iters


def stats(times: list[float]) -> dict[str, float]:
    """p50 and p95 of a list of times."""
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95))}


def markdown(runs: dict) -> str:
    """The table of all recorded devices."""
    lines = ["# Fitting speed", "",
             "Written by `bench/fitting.py`; 80 x 80 crop per person, Anny volume, "
             "10 kernels per pixel. Times in ms (p50 / p95).", ""]
    for run in runs.values():
        lines += [f"## {run['device']} ({run.get('key', run['device_type'])}), {run['date']}, "
                  f"torch {run['torch']}", "",
                  f"{run['kernels']} kernels, match `{run['match']}`"
                  + (", compiled step (`FitConfig.compile_step`)" if run.get("compile_step")
                     else "") + ". Warm fit: "
                  "`FitConfig.tracking()` (cap 20 steps) from a start a few degrees off; "
                  "cold fit: `FitConfig()`, 120 steps from 20 degrees off (3DNBF's budget)."
                  + (" CUDA graphs captured in an untimed first fit, replayed in the timed "
                     "ones." if run["device_type"] == "cuda" else ""),
                  "",
                  "| people | ms / iteration | warm fit | warm iterations | cold fit |",
                  "| --- | --- | --- | --- | --- |"]
        for row in run["rows"]:
            it, warm, cold = row["iteration"], row["warm_fit"], row["cold_fit"]
            lines.append(f"| {row['people']} | {it['p50']:.2f} / {it['p95']:.2f} | "
                         f"{warm['p50']:.1f} / {warm['p95']:.1f} | "
                         f"{row['warm_iterations']:.1f} | "
                         f"{cold['p50']:.0f} / {cold['p95']:.0f} |")
        lines.append("")
    lines.append("![warm fit time per frame](fitting.png)")
    return "\n".join(lines) + "\n"


def plot(runs: dict) -> None:
    """fitting.png: warm and cold fit time against people, one line per device."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for run in runs.values():
        people = [r["people"] for r in run["rows"]]
        for key, style in (("warm_fit", "o-"), ("cold_fit", "s--")):
            ax.plot(people, [r[key]["p50"] for r in run["rows"]], style,
                    label=f"{run.get('key', run['device_type'])} {key.replace('_', ' ')}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("people fitted in one batch")
    ax.set_ylabel("ms per frame (p50)")
    ax.set_title("Batched fitting, 80x80 crops, 858 kernels")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "fitting.png", dpi=120)


def main() -> None:
    """Measure and record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--people", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=20, help="timed fits per measurement")
    parser.add_argument("--cold-repeats", type=int, default=5)
    parser.add_argument("--match", choices=("blend", "average", "posterior"), default="blend")
    parser.add_argument("--compile", action="store_true",
                        help="FitConfig.compile_step (recorded as its own entry)")
    args = parser.parse_args()
    objective = dict(match=args.match, compile_step=args.compile)
    if args.match == "posterior":
        objective["temperature"] = 0.07
    device = torch.device(args.device)
    cpu_volume = NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))
    volume = copy.deepcopy(cpu_volume).to(device)
    fitter = Fitter(volume)
    rows = []
    for people in tqdm(args.people, desc="batch sizes"):
        def measure(cfg: FitConfig, repeats: int, start_deg: float, seed: int,
                    people: int = people) -> tuple[list[float], list[float]]:
            return timed_fits(fitter, cpu_volume, cfg, people, repeats, start_deg, device,
                              seed)

        steps = 20
        free = FitConfig.tracking(iterations=steps, tolerance=-1.0, **objective)
        it_times, _ = measure(free, args.repeats, 3.0, seed=1)
        warm_times, warm_iters = measure(FitConfig.tracking(**objective), args.repeats,
                                         3.0, seed=2)
        cold_times, _ = measure(FitConfig(**objective), args.cold_repeats, 20.0, seed=3)
        rows.append({
            "people": people,
            "iteration": stats([t / steps for t in it_times]),
            "warm_fit": stats(warm_times), "warm_iterations": float(np.mean(warm_iters)),
            "cold_fit": stats(cold_times),
        })
        tqdm.write(f"{people:3d} people: {rows[-1]}")
    entry = {**environment(device), "kernels": volume.num_kernels, "resolution": SIZE,
             "kernels_per_pixel": fitter.config.render.max_per_pixel, "match": args.match,
             "compile_step": args.compile,
             "key": device.type + (" compiled" if args.compile else "")
             + ("" if args.match == "blend" else f" {args.match}"),
             "repeats": args.repeats, "cold_repeats": args.cold_repeats, "rows": rows}
    runs = save("fitting", entry, markdown)
    plot(runs)
    print((RESULTS / "fitting.md").read_text())


if __name__ == "__main__":
    main()
