"""What a live replay shows: answered frames, latency, drops, people found, accuracy against
the bag's ground truth, track ids, and a picture of a few frames as the node drew them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nbf_ros.estimate import HumanEstimate
from nbf_ros.eval.frame_eval import FrameRecord, evaluate
from nbf_ros.io.bag_reader import list_topics, read_messages
from nbf_ros.io.convert import estimates_from_message, image_from_message, stamp_to_ns
from nbf_ros.replay.live import LiveRun

__all__ = ["live_records", "markdown", "save_picture", "summarize"]

def _sent_map(path: Path) -> dict[int, int]:
    """Stamp a frame was sent with -> its stamp in the bag."""
    out = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out[int(row["stamp_ns"])] = int(row["bag_stamp_ns"])
    return out


def live_records(run: LiveRun, bag: Path, truth_topic: str | None = "/ground_truth/humans"
                 ) -> list[FrameRecord]:
    """One FrameRecord per frame the node answered during the replay, keyed by the frame's
    stamp in the bag, with its latency (image stamp to reception)."""
    sent = _sent_map(run.sent)
    truth: dict[int, list[HumanEstimate]] = {}
    if truth_topic is not None and truth_topic in list_topics(bag):
        truth = {stamp_to_ns(m.header.stamp): estimates_from_message(m)
                 for _, m in read_messages(bag, truth_topic)}
    records = []
    for received_ns, msg in read_messages(run.outputs, "/humans/poses"):
        stamp = stamp_to_ns(msg.header.stamp)
        if stamp not in sent:
            continue  # not a frame of this replay
        records.append(FrameRecord(sent[stamp], estimates_from_message(msg),
                                   truth.get(sent[stamp]), (received_ns - stamp) / 1e6,
                                   sequence=bag.name))
    return records


def summarize(run: LiveRun, bag: Path, truth_topic: str = "/ground_truth/humans"
              ) -> dict[str, Any]:
    """Figures of one live replay: frames, drops, rates, and evaluate()'s accuracy figures
    (latency in ms, errors in mm)."""
    sent = _sent_map(run.sent)
    records = live_records(run, bag, truth_topic)
    figures = evaluate(records)
    answered = len(records)
    # Outputs per second of playback (first to last frame sent), not of start-up.
    span = (max(sent) - min(sent)) / 1e9 if len(sent) > 1 else 0.0
    track_ids = sorted({e.track_id for r in records for e in r.estimates})
    return {
        "frames_sent": run.frames_sent,
        "frames_answered": answered,
        "drop_rate": 1 - answered / run.frames_sent if run.frames_sent else None,
        "output_rate_hz": answered / span if span > 0 else None,
        "people_per_frame": figures["estimated_people"] / answered if answered else 0.0,
        "track_ids": track_ids,
        **{k: v for k, v in figures.items() if k != "frames"},
        "node_diagnostics": _last_diagnostics(run.outputs),
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
        ("true people found", f"{summary['matched_people']} of {summary['true_people']}"),
        ("MPJPE / PA-MPJPE", f"{fmt(summary['mpjpe_mm'])} / {fmt(summary['pa_mpjpe_mm'])} mm"),
        ("track ids / id switches", f"{len(summary['track_ids'])} / "
                                    f"{summary['id_switches']}"),
    ]
    lines = [f"# {title}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"
