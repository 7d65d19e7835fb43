"""`nbf-ros bench`: per-stage latency and frame rate of the pipeline on this machine.

For each input size and number of people, a synthetic frame with that many people is
decoded from a sensor_msgs/Image layout, run through the pipeline with the people's boxes
(detection is timed on its own, since its result varies with the model), fitted from a cold
start on the first frame and warm-started from the previous frame afterwards (the node's
steady state), and turned into a HumanPoseArray. The 3DNBF reference setting (a 320 px crop
so that the fit renders 80 x 80, 120 steps, no warm start) runs with the same code, so the
speed-up is a ratio measured in one run. ``--pipelined`` also runs each setting the way a
node with ``pipelined:=true`` does (decode, detection and network of frame t+1 on a second
thread while frame t is fitted) and reports its frame rate and latency beside the one-thread
figures. Writes speed_<device>[_<tag>].json, .md and .png,
which name the inference engine that ran the network (``--engine``, by default
config/pose.yaml's ``auto``) with its one-line description.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from nbf_ros.cli import UsageError

__all__ = ["add_arguments", "run"]

SIZES = {"640x480": (640, 480), "1280x720": (1280, 720)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the bench verb."""
    from nbf_ros.vision.engines.select import ENGINE_NAMES

    parser.add_argument("--out", type=Path, default=Path("bench/results"),
                        help="folder for speed_<device>.json/.md/.png (default bench/results)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--engine", choices=ENGINE_NAMES, default=None,
                        help="inference engine of the feature network (default: the engine "
                             "parameter of config/pose.yaml, auto)")
    parser.add_argument("--people", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=sorted(SIZES))
    parser.add_argument("--frames", type=int, default=10, help="timed frames per setting")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="node parameter over config/pose.yaml (e.g. tracking_iterations=5)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the 3DNBF reference setting (slow on a CPU)")
    parser.add_argument("--tag", default="",
                        help="suffix of the output names (speed_<device>_<tag>.*)")
    parser.add_argument("--pipelined", action="store_true",
                        help="also measure the node's two-thread layout (pipelined:=true)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _frame(people: int, size: tuple[int, int], seed: int):  # noqa: ANN202 - synth Scene
    """A synthetic frame with ``people`` people side by side (boxes from the truth)."""
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.scenes import SceneConfig, render_scene

    width, height = size
    cfg = SceneConfig(height=height, width=width, extra_people=people - 1,
                      extra_person_probability=1.0, occluder_probability=0.0,
                      subject_height=(0.5, 0.6), extra_depth=(0.0, 3.0))
    return render_scene(BodyMesh.default(), seed, cfg)


def _percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values) * 1e3
    return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95))}


def measure(pipeline, scene, boxes: np.ndarray, frames: int, warm: bool) -> dict[str, Any]:  # noqa: ANN001
    """Stage latencies (ms p50/p95) and frames per second over ``frames`` timed frames."""
    import torch

    from nbf_ros.io.convert import human_pose_array_message
    from nbf_ros.io.image_codec import decode_image

    h, w = scene.image.shape[:2]
    data = scene.image.tobytes()
    stages: dict[str, list[float]] = {k: [] for k in ("decode", "detect", "landmarks",
                                                      "network", "fit", "message", "total")}
    sync = torch.cuda.synchronize if pipeline.device.type == "cuda" else (lambda: None)
    states = None
    replays: list[int] = []  # fitting steps of each frame's (last) fit replayed from a graph
    if pipeline.device.type == "cuda":  # this setting's own peak, not an earlier one's cache
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(pipeline.device)
    for i in range(frames + 1):  # frame 0 warms up (and is the cold start of tracking)
        sync()
        start = time.perf_counter()
        rgb = decode_image(h, w, "rgb8", 3 * w, data)
        t_decode = time.perf_counter()
        pipeline.find_people(rgb)  # the node's detector (with landmarks: see detect_every)
        sync()
        t_detect = time.perf_counter()
        starts = ([states.index([j]) for j in range(states.batch)]
                  if warm and states is not None and states.batch == len(boxes) else None)
        humans = pipeline.estimate(rgb, scene.K, boxes=boxes, warm_starts=starts)
        sync()
        t_fit = time.perf_counter()
        human_pose_array_message(humans, 0, "camera_optical_frame")
        end = time.perf_counter()
        states = pipeline.last_states
        if i == 0:
            continue
        replays.append(pipeline.fitter.graph_replays)
        stages["decode"].append(t_decode - start)
        stages["detect"].append(t_detect - t_decode)
        stages["landmarks"].append(pipeline.timing.get("landmarks", 0.0))
        stages["network"].append(pipeline.timing.get("network", 0.0))
        stages["fit"].append(pipeline.timing.get("fit", 0.0))
        stages["message"].append(end - t_fit)
        stages["total"].append(end - start)
    out: dict[str, Any] = {k: _percentiles(v) for k, v in stages.items()}
    out["fps"] = float(1.0 / np.mean(stages["total"]))
    out["people_estimated"] = len(humans)
    out["graph_replays_per_frame"] = float(np.mean(replays))
    if pipeline.device.type == "cuda":
        out["gpu_memory_mb"] = torch.cuda.max_memory_allocated(pipeline.device) / 2**20
        out["gpu_reserved_mb"] = torch.cuda.max_memory_reserved(pipeline.device) / 2**20
    out["host_max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def measure_pipelined(pipeline, scene, boxes: np.ndarray, frames: int) -> dict[str, Any]:  # noqa: ANN001
    """Frames per second and latency (ms p50/p95, decode to message) of the node's
    pipelined layout: one thread decodes, detects and runs the network on the next frame,
    started just in time, while the other fits the current one and builds its message.
    Frames come back to back (a camera faster than the node); two fitted frames warm up."""
    import torch

    from nbf_ros.io.convert import human_pose_array_message
    from nbf_ros.io.image_codec import decode_image
    from nbf_ros.stream.schedule import JustInTime
    from nbf_ros.stream.slot import LatestSlot

    h, w = scene.image.shape[:2]
    data = scene.image.tobytes()
    warm_up = 2
    ready: LatestSlot[tuple[float, Any]] = LatestSlot()
    schedule = JustInTime(clock=time.perf_counter)
    failed: list[BaseException] = []

    def front() -> None:  # until the measuring thread closes the slot
        try:
            while not ready.closed:
                # The node's rule; frames come back to back, so a newer one is always there.
                if not schedule.may_start(ready, newer=True):
                    continue
                start = time.perf_counter()
                rgb = decode_image(h, w, "rgb8", 3 * w, data)
                pipeline.find_people(rgb)
                frame = pipeline.prepare(rgb, scene.K, boxes=boxes)
                schedule.first_done(time.perf_counter() - start)
                ready.put((start, frame))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the measuring thread
            failed.append(exc)
            ready.close()

    sync = torch.cuda.synchronize if pipeline.device.type == "cuda" else (lambda: None)
    worker = threading.Thread(target=front, name="bench_network", daemon=True)
    worker.start()
    states, latency, ends = None, [], []
    for k in range(frames + warm_up):
        item = ready.take()
        if item is None:
            break
        start, frame = item
        schedule.second_started()
        starts = ([states.index([j]) for j in range(states.batch)]
                  if states is not None and states.batch == len(boxes) else None)
        humans = pipeline.finish(frame, starts)
        human_pose_array_message(humans, 0, "camera_optical_frame")
        sync()
        ends.append(time.perf_counter())
        schedule.second_done()
        states = pipeline.last_states
        if k >= warm_up:
            latency.append(ends[-1] - start)
    ready.close()
    worker.join()
    if failed:
        raise failed[0]
    return {"fps": float(frames / (ends[-1] - ends[warm_up - 1])),
            "latency": _percentiles(latency)}


def reference_pipeline(settings: dict[str, Any]):  # noqa: ANN201 - a PosePipeline
    """The pipeline at 3DNBF's offline settings: an 80 x 80 render (320 px crops) and a cold
    fit of always 120 steps, 40 of them root-only, from one start, with this project's
    objective."""
    from dataclasses import replace

    from nbf_ros.pipeline import PipelineConfig, PosePipeline

    reference = PosePipeline(PipelineConfig(
        model=settings["model"], device=settings["device"], engine=settings["engine"],
        crop_size=320))
    # Set after construction: the model file's stored schedule (weights.SCHEDULE_KEYS)
    # would replace one given in the config, and a convergence stop would make the
    # reference's step count depend on the model.
    reference.fit_config = replace(reference.fit_config, iterations=120, root_iterations=40,
                                   coarse_fraction=0.0, tolerance=-1.0, hypotheses=1)
    return reference


def run(args: argparse.Namespace) -> int:
    """Measure every setting and write the speed table."""
    import torch

    from nbf_ros.node_settings import build_pipeline, cpu_threads
    from nbf_ros.progress import tqdm
    from nbf_ros.replay.command import node_parameters
    from nbf_ros.vision.engines import EngineUnavailable

    if args.frames < 1 or min(args.people) < 1 or max(args.people) > 32:
        raise UsageError("--frames must be >= 1 and --people between 1 and 32")
    settings = dict(node_parameters(args.param), device=args.device)
    if args.engine is not None:
        settings["engine"] = args.engine
    if args.pipelined:  # the threads a pipelined node would use (cpu_threads 0: split)
        settings["pipelined"] = True
    threads = cpu_threads(settings)
    if threads:  # as the node does on configure, before the engine exists
        torch.set_num_threads(threads)
    try:
        pipeline, _ = build_pipeline(settings)
    except EngineUnavailable as exc:
        raise UsageError(f"engine {settings['engine']!r} cannot run here: {exc}") from exc
    device = pipeline.device
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU {platform.machine()}, {torch.get_num_threads()} threads")
    rows = []
    todo = [(size, people) for size in args.sizes for people in args.people]
    for size, people in tqdm(todo, desc="settings", disable=args.quiet):
        scene = _frame(people, SIZES[size], 42 + people)
        boxes = np.stack([p.box for p in scene.people])
        result = measure(pipeline, scene, boxes, args.frames, warm=True)
        if args.pipelined:
            result["pipelined"] = measure_pipelined(pipeline, scene, boxes, args.frames)
        rows.append({"setting": "this project (warm start)", "size": size,
                     "people": len(boxes), **result})
    if not args.no_reference:
        reference = reference_pipeline(settings)
        scene = _frame(1, SIZES["640x480"], 43)
        boxes = np.stack([p.box for p in scene.people])
        result = measure(reference, scene, boxes, max(2, args.frames // 5), warm=False)
        rows.append({"setting": "3DNBF reference (80x80 render, 120 steps, cold)",
                     "size": "640x480", "people": 1, **result})
    data = {"device": name, "device_type": device.type,
            "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
            "engine": pipeline.engine.name,
            "engine_description": pipeline.engine.description,
            "fit": {"cold_iterations": settings["fit_iterations"],
                    # As run: "0" and "auto" mean the device's defaults.
                    "warm_iterations": pipeline.tracking_config.iterations,
                    "time_budget_ms": settings["fit_time_budget_ms"],
                    "compile_step": pipeline.tracking_config.compile_step,
                    "match": pipeline.tracking_config.match},
            "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / (f"speed_{device.type}" + (f"_{args.tag}" if args.tag else ""))
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    stem.with_suffix(".md").write_text(_markdown(data))
    _plot(data, stem.with_suffix(".png"))
    print(_markdown(data))
    return 0


def _markdown(data: dict[str, Any]) -> str:
    fit = data["fit"]
    lines = [f"# Pipeline speed ({data['date']}, {data['device']}, torch {data['torch']}, "
             f"engine {data['engine']})", "",
             f"`nbf-ros bench`: fitting {fit['cold_iterations']} cold / "
             f"{fit['warm_iterations']} warm steps, time budget "
             f"{fit['time_budget_ms'] or 'none'} ms"
             + (f", match `{fit['match']}`" if "match" in fit else "")
             + (", compiled step (`fit_compile`)" if fit.get("compile_step") else "")
             + ". Milliseconds p50 / p95 per frame; detection is timed on the whole frame, "
             "the fit on the given people's boxes. Memory: peak GPU memory torch's allocator held "
             "(the CUDA context, a few hundred MB, comes on top) and the process's peak "
             "resident size, MB.",
             *([f"Network engine: {data['engine_description']}."]
               if "engine_description" in data else []),
             "", "| setting | input | people | decode | detect | landmarks | network | fit | "
             "message | total | FPS | memory GPU / host |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        # Rows of results files from before the landmark stage have no landmarks column.
        cells = " | ".join(f"{r[k]['p50']:.1f} / {r[k]['p95']:.1f}" if k in r else "-"
                           for k in ("decode", "detect", "landmarks", "network", "fit",
                                     "message", "total"))
        gpu = f"{r['gpu_reserved_mb']:.0f}" if "gpu_reserved_mb" in r else "-"
        host = f"{r['host_max_rss_mb']:.0f}" if "host_max_rss_mb" in r else "-"
        lines.append(f"| {r['setting']} | {r['size']} | {r['people']} | {cells} | "
                     f"{r['fps']:.2f} | {gpu} / {host} |")
    if data.get("device_type") == "cuda" and all("graph_replays_per_frame" in r
                                                  for r in data["rows"]):
        lines += ["", "Fitting steps per frame replayed from a CUDA graph (the rest ran "
                      "eagerly): " + ", ".join(f"{r['size']} x {r['people']}: "
                                               f"{r['graph_replays_per_frame']:.1f}"
                                               for r in data["rows"]) + "."]
    piped = [r for r in data["rows"] if "pipelined" in r]
    if piped:
        lines += ["", "One worker thread against the pipelined layout (`pipelined:=true`: the "
                      "network reads frame t+1 on a second thread, started to be ready as frame "
                      "t's fit ends), "
                      "frames back to back; latency from decode to message, ms p50 / p95:", "",
                      "| input | people | one thread: FPS | latency | pipelined: FPS | latency |",
                      "|---|---|---|---|---|---|"]
        for r in piped:
            two = r["pipelined"]
            lines.append(f"| {r['size']} | {r['people']} | {r['fps']:.2f} | "
                         f"{r['total']['p50']:.1f} / {r['total']['p95']:.1f} | "
                         f"{two['fps']:.2f} | {two['latency']['p50']:.1f} / "
                         f"{two['latency']['p95']:.1f} |")
    ref = [r for r in data["rows"] if r["setting"].startswith("3DNBF")]
    ours = [r for r in data["rows"] if r["size"] == "640x480" and r["people"] == 1
            and not r["setting"].startswith("3DNBF")]
    if ref and ours:
        lines += ["", f"Speed-up over the 3DNBF reference (one person, 640x480, same run): "
                      f"{ours[0]['fps'] / ref[0]['fps']:.1f}x."]
    return "\n".join(lines) + "\n"


def _plot(data: dict[str, Any], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in data["rows"] if not r["setting"].startswith("3DNBF")]
    fig, ax = plt.subplots(figsize=(8, 4))
    labels = [f"{r['size']}\n{r['people']} people" for r in rows]
    bottom = np.zeros(len(rows))
    for stage in ("decode", "detect", "landmarks", "network", "fit", "message"):
        vals = np.array([r[stage]["p50"] if stage in r else 0.0 for r in rows])
        ax.bar(labels, vals, bottom=bottom, label=stage)
        bottom += vals
    ax.set_ylabel("ms per frame (p50)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(f"pipeline stages, {data['device']}, {data['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
