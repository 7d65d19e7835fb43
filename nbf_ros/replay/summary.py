"""What a live replay shows: answered frames, latency, drops, people found, accuracy against
the bag's ground truth, track ids, and a picture of a few frames as the node drew them."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from nbf_ros.estimate import HumanEstimate
from nbf_ros.eval.metrics import mpjpe, pa_mpjpe
from nbf_ros.io.bag_reader import list_topics, read_messages
from nbf_ros.io.convert import estimates_from_message, image_from_message, stamp_to_ns
from nbf_ros.replay.live import LiveRun

__all__ = ["match_people", "summarize", "save_picture", "markdown"]

MATCH_DISTANCE = 0.5  # median 2D joint distance / true box height to pair two people


def match_people(estimates: list[HumanEstimate], truth: list[HumanEstimate],
                 max_distance: float = MATCH_DISTANCE) -> list[tuple[int, int]]:
    """(estimate index, truth index) pairs: one-to-one (Hungarian) on the median distance of
    their projected joints relative to the true person's box height. Joints, not boxes:
    overlapping people have overlapping boxes, while their skeletons still differ."""
    if not estimates or not truth:
        return []
    est = np.stack([e.keypoints_2d for e in estimates])  # [E, J, 2]
    gt = np.stack([t.keypoints_2d for t in truth])  # [T, J, 2]
    height = np.stack([max(t.roi[3] - t.roi[1], 1.0) for t in truth])  # [T]
    dist = np.median(np.linalg.norm(est[:, None] - gt[None], axis=-1), axis=-1) / height
    dist = np.where(np.isfinite(dist), dist, 1e9)
    rows, cols = linear_sum_assignment(dist)
    return [(r, c) for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
            if dist[r, c] <= max_distance]


def _sent_map(path: Path) -> dict[int, int]:
    """Stamp a frame was sent with -> its stamp in the bag."""
    out = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out[int(row["stamp_ns"])] = int(row["bag_stamp_ns"])
    return out


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    arr = np.asarray(values)
    return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)),
            "max": float(arr.max())}


def summarize(run: LiveRun, bag: Path, truth_topic: str = "/ground_truth/humans"
              ) -> dict[str, Any]:
    """Figures of one live replay (latency in ms, errors in mm)."""
    sent = _sent_map(run.sent)
    truth: dict[int, list[HumanEstimate]] = {}
    if truth_topic in list_topics(bag):
        truth = {stamp_to_ns(m.header.stamp): estimates_from_message(m)
                 for _, m in read_messages(bag, truth_topic)}
    latencies, people, errors, pa_errors = [], [], [], []
    found = expected = 0
    id_history: dict[int, list[int]] = defaultdict(list)  # true id -> estimated ids in order
    answered = 0
    for received_ns, msg in read_messages(run.outputs, "/humans/poses"):
        stamp = stamp_to_ns(msg.header.stamp)
        if stamp not in sent:
            continue  # not a frame of this replay
        answered += 1
        latencies.append((received_ns - stamp) / 1e6)
        estimates = estimates_from_message(msg)
        people.append(len(estimates))
        gt = truth.get(sent[stamp], [])
        expected += len(gt)
        pairs = match_people(estimates, gt)
        found += len(pairs)
        for e, t in pairs:
            pred = torch.as_tensor(estimates[e].joints, dtype=torch.float64)[None]
            true = torch.as_tensor(gt[t].joints, dtype=torch.float64)[None]
            errors.append(float(mpjpe(pred, true)[0]) * 1000)
            pa_errors.append(float(pa_mpjpe(pred, true)[0]) * 1000)
            id_history[gt[t].track_id].append(estimates[e].track_id)
    # Outputs per second of playback (first to last frame sent), not of start-up.
    span = (max(sent) - min(sent)) / 1e9 if len(sent) > 1 else 0.0
    switches = sum(int(a != b) for ids in id_history.values()
                   for a, b in zip(ids[:-1], ids[1:], strict=True))
    diagnostics = _last_diagnostics(run.outputs)
    return {
        "frames_sent": run.frames_sent,
        "frames_answered": answered,
        "drop_rate": 1 - answered / run.frames_sent if run.frames_sent else None,
        "output_rate_hz": answered / span if span > 0 else None,
        "latency_ms": _percentiles(latencies),
        "people_per_frame": float(np.mean(people)) if people else 0.0,
        "true_people": expected,
        "true_people_found": found,
        "recall": found / expected if expected else None,
        "mpjpe_mm": float(np.mean(errors)) if errors else None,
        "pa_mpjpe_mm": float(np.mean(pa_errors)) if pa_errors else None,
        "track_ids": sorted({i for ids in id_history.values() for i in ids}),
        "id_switches": switches,
        "node_diagnostics": diagnostics,
    }


def _last_diagnostics(outputs: Path) -> dict[str, str]:
    """Key-values of the node's last /diagnostics report in the recording."""
    last: dict[str, str] = {}
    if "/diagnostics" not in list_topics(outputs):
        return last
    for _, msg in read_messages(outputs, "/diagnostics"):
        for status in msg.status:
            if status.name.endswith(": pose estimation"):
                last = {kv.key: kv.value for kv in status.values}
    return last


def save_picture(run: LiveRun, png: Path, frames: int = 4) -> int:
    """PNG of ``frames`` debug images the node published, spread over the replay, with the
    latency of every answered frame below; the number of images drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    topics = list_topics(run.outputs)
    if "/humans/debug_image" not in topics:
        raise ValueError("the replay recorded no debug images (publish_debug_image was off)")
    debug = [(stamp_to_ns(m.header.stamp), m) for _, m in
             read_messages(run.outputs, "/humans/debug_image")]
    poses = [(r, m) for r, m in read_messages(run.outputs, "/humans/poses")]
    if not debug:
        raise ValueError("the node published no debug image during the replay")
    pick = np.unique(np.linspace(0, len(debug) - 1, min(frames, len(debug))).round()
                     .astype(int))
    fig = plt.figure(figsize=(4 * len(pick), 5.6))
    grid = fig.add_gridspec(2, len(pick), height_ratios=(3, 1.2))
    t0 = min(s for s, _ in debug)
    for col, idx in enumerate(pick):
        stamp, msg = debug[idx]
        ax = fig.add_subplot(grid[0, col])
        ax.imshow(image_from_message(msg))
        ax.set_title(f"t = {(stamp - t0) / 1e9:.2f} s", fontsize=9)
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    times = [(stamp_to_ns(m.header.stamp) - t0) / 1e9 for _, m in poses]
    lat = [(r - stamp_to_ns(m.header.stamp)) / 1e6 for r, m in poses]
    ax.plot(times, lat, "o-", ms=3)
    ax.set_xlabel("image time (s)")
    ax.set_ylabel("latency (ms)")
    ax.grid(alpha=0.3)
    fig.suptitle("nbf_ros pose node on a synthetic bag: joints green = visible, red = "
                 "occluded; magenta = pixels the occlusion model explains", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return len(pick)


def markdown(summary: dict[str, Any], title: str) -> str:
    """A short Markdown report of summarize()'s figures."""
    def fmt(value: Any, unit: str = "", digits: int = 1) -> str:
        if value is None:
            return "n/a"
        return f"{value:.{digits}f}{unit}" if isinstance(value, float) else f"{value}{unit}"

    lat = summary["latency_ms"]
    rows = [
        ("frames sent / answered", f"{summary['frames_sent']} / {summary['frames_answered']}"),
        ("dropped (node busy or bad frame)", fmt(100 * summary["drop_rate"]
                                                 if summary["drop_rate"] is not None
                                                 else None, " %")),
        ("output rate", fmt(summary["output_rate_hz"], " Hz", 2)),
        ("latency p50 / p95 / max", f"{fmt(lat['p50'])} / {fmt(lat['p95'])} / "
                                    f"{fmt(lat['max'])} ms"),
        ("people per answered frame", fmt(summary["people_per_frame"], "", 2)),
        ("true people found", f"{summary['true_people_found']} of {summary['true_people']}"),
        ("MPJPE / PA-MPJPE", f"{fmt(summary['mpjpe_mm'])} / {fmt(summary['pa_mpjpe_mm'])} mm"),
        ("track ids / id switches", f"{len(summary['track_ids'])} / "
                                    f"{summary['id_switches']}"),
    ]
    lines = [f"# {title}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"
