"""Where one fitting iteration spends its time: a torch.profiler table of a warm fit.

    python bench/profile_fit.py [--device cuda] [--people 1] [--iterations 10]

Prints the operators with the most host time and the number of operator calls and device
kernel launches per iteration; on a GPU a launch-bound loop shows many launches and host
time far above device time.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nbf_ros.fitting.config import FitConfig  # noqa: E402
from nbf_ros.fitting.fitter import Fitter  # noqa: E402
from nbf_ros.nbv.volume import NeuralBodyVolume  # noqa: E402
from nbf_ros.paths import find_model_file  # noqa: E402
from nbf_ros.synth.feature_scenes import feature_scene, perturb, random_states  # noqa: E402


def main() -> None:
    """Profile and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--people", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    cpu_volume = NeuralBodyVolume.load(find_model_file("nbv_anny.npz"))
    gen = torch.Generator().manual_seed(0)
    truth = random_states(cpu_volume, args.people, gen)
    scene = feature_scene(cpu_volume, truth, gen)
    start = perturb(truth, cpu_volume.body.joint_names, gen, joint_deg=3, root_deg=1, root_cm=1)
    volume = copy.deepcopy(cpu_volume).to(device)
    cfg = FitConfig.tracking(iterations=args.iterations, tolerance=-1.0)
    fitter = Fitter(volume, cfg)
    inputs = (scene.features.to(device), scene.camera.to(device), start.to(device))
    fitter.fit(*inputs)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                           if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        fitter.fit(*inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()
    events = prof.key_averages()
    calls = sum(e.count for e in events if not e.key.startswith(("aten::empty", "cuda")))
    launches = sum(e.count for e in events if e.key in ("cudaLaunchKernel",
                                                        "cuLaunchKernel", "cudaLaunchKernelExC"))
    print(f"{args.people} people, {args.iterations} iterations on {device}: "
          f"{calls / args.iterations:.0f} operator calls and "
          f"{launches / args.iterations:.0f} kernel launches per iteration")
    print(events.table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
