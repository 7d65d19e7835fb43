"""bench/real_media.py's report: the JSON and Markdown tables, a summary plot, and an overlay
of every scored image with each method's people over the labels."""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from nbf_ros.eval.image_scores import LABEL_JOINTS, Person  # noqa: E402

__all__ = ["write_report"]

BONES = ((0, 1), (0, 2), (2, 4), (1, 3), (3, 5), (6, 7), (0, 6), (1, 7), (6, 8), (8, 10),
         (7, 9), (9, 11))  # pairs of LABEL_JOINTS indices
PANEL_WIDTH = 384


def _side(a: int, b: int) -> str:
    """Colour of a bone: the person's left red, right blue, across the body green."""
    left = LABEL_JOINTS[a].startswith("left") and LABEL_JOINTS[b].startswith("left")
    right = LABEL_JOINTS[a].startswith("right") and LABEL_JOINTS[b].startswith("right")
    return "red" if left else "blue" if right else "lime"


def _draw(rgb: np.ndarray, truth: list[Person], found: list[Person], title: str) -> Image.Image:
    """One panel: labelled boxes (green, thin), the method's boxes and skeletons."""
    image = Image.fromarray(rgb).convert("RGB")
    scale = PANEL_WIDTH / image.width
    image = image.resize((PANEL_WIDTH, round(image.height * scale)))
    draw = ImageDraw.Draw(image)
    for p in truth:
        draw.rectangle(list(p.box * scale), outline=(0, 200, 0), width=1)
    for p in found:
        draw.rectangle(list(p.box * scale), outline=(255, 255, 0), width=1)
        if p.joints is not None:
            xy = p.joints[:, :2] * scale
            for a, b in BONES:
                draw.line([tuple(xy[a]), tuple(xy[b])], fill=_side(a, b), width=2)
        if p.track_id is not None:
            draw.text(tuple(p.box[:2] * scale), str(p.track_id), fill=(255, 255, 0))
    draw.rectangle([0, 0, PANEL_WIDTH, 12], fill=(0, 0, 0))
    draw.text((2, 0), title[:64], fill=(255, 255, 255))
    return image


def _overlays(out: Path, shown: dict, labels: dict, media: Path, video: list[np.ndarray]
              ) -> list[str]:
    """One PNG per scored image or labelled video frame that has joints: every method's
    panel side by side (labels in green). Returns the file names."""
    from real_media import label_people

    folder = out.parent / out.name
    folder.mkdir(parents=True, exist_ok=True)
    keys = list(labels["images"])
    keys += [f"vtest.avi#{k}" for k, v in labels["video"]["frames"].items()
             if any(p.get("joints") for p in v["people"]) and int(k) < len(video)]
    names = []
    for key in keys:
        if "#" in key:
            index = int(key.split("#")[1])
            rgb, entry = video[index], labels["video"]["frames"][str(index)]
        else:
            rgb = np.asarray(Image.open(media / key).convert("RGB"))
            entry = labels["images"][key]
        truth = label_people(entry)
        panels = [_draw(rgb, truth, found[key], method) for method, found in shown.items()
                  if key in found]
        cols = min(4, len(panels))
        rows = -(-len(panels) // cols)
        h = panels[0].height
        sheet = Image.new("RGB", (cols * PANEL_WIDTH, rows * h))
        for i, panel in enumerate(panels):
            sheet.paste(panel, ((i % cols) * PANEL_WIDTH, (i // cols) * h))
        name = key.replace(".", "_").replace("#", "_") + ".png"
        sheet.save(folder / name, optimize=True)
        names.append(f"{folder.name}/{name}")
    return names


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _table(results: dict) -> list[str]:
    """Markdown rows of every method: images (all, partly hidden) and video."""
    head = ("| method | images R / P | PCK@0.1 / @0.2 | hidden: R / PCK@0.1 | facing | "
            "s/image | video R / P | video PCK@0.1 / @0.2 | hidden: R / PCK@0.1 | "
            "id switches | tracks / pedestrian | s/frame |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in results.items():
        im, occ = r["images"]["all"], r["images"]["occluded"]
        cells = [name, f"{_fmt(im['recall'])} / {_fmt(im['precision'])}",
                 f"{_fmt(im['pck_0.1'])} / {_fmt(im['pck_0.2'])}",
                 f"{_fmt(occ['recall'])} / {_fmt(occ['pck_0.1'])}",
                 f"{_fmt(im['facing_right'])} of {im['facing_people']}",
                 f"{r['image_seconds']:.2f}"]
        v = r.get("video")
        if v:
            va, vo = v["all"], v["occluded"]
            cells += [f"{_fmt(va['recall'])} / {_fmt(va['precision'])}",
                      f"{_fmt(va['pck_0.1'])} / {_fmt(va['pck_0.2'])}",
                      f"{_fmt(vo['recall'])} / {_fmt(vo['pck_0.1'])}",
                      str(v["id_switches"]), _fmt(v["tracks_per_pedestrian"]),
                      f"{v['seconds_per_frame']:.2f}"]
        else:
            cells += ["-"] * 6
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _plot(path: Path, results: dict) -> None:
    """Bars of recall, precision, PCK@0.1 and facing per method, images and video."""
    metrics = (("recall", "recall"), ("precision", "precision"), ("pck_0.1", "PCK@0.1"),
               ("facing_right", "facing"))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
    for ax, part in zip(axes, ("images", "video"), strict=True):
        names = [n for n, r in results.items() if part == "images" or r.get("video")]
        width = 0.8 / len(names) if names else 0.8
        for i, name in enumerate(names):
            r = results[name]["images"] if part == "images" else results[name]["video"]
            vals = [r["all"][key] or 0.0 for key, _ in metrics]
            ax.bar(np.arange(len(metrics)) + i * width, vals, width, label=name)
        ax.set_xticks(np.arange(len(metrics)) + 0.4 - width / 2)
        ax.set_xticklabels([label for _, label in metrics])
        ax.set_title(f"{part} (opencv-doc media, by-eye labels)")
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(out: Path, results: dict, shown: dict, labels: dict, media: Path,
                 video: list[np.ndarray], argv: list[str]) -> None:
    """Write ``out``.json, .md and .png, and the overlays in the folder ``out``."""
    import torch

    label_file = Path(__file__).with_name("real_media_labels.json")
    meta = {"date": datetime.date.today().isoformat(),
            "device": f"CPU ({platform.processor() or platform.machine()}, "
                      f"{torch.get_num_threads()} torch threads)",
            "command": "python bench/real_media.py " + " ".join(argv),
            "labels_sha256": hashlib.sha256(label_file.read_bytes()).hexdigest(),
            "video_frames": len(video)}
    overlays = _overlays(out, shown, labels, media, video)
    out.with_suffix(".json").write_text(json.dumps(
        {"meta": meta, "results": results, "overlays": overlays}, indent=1) + "\n")
    _plot(out.with_suffix(".png"), results)
    lines = [f"# Real-media benchmark ({meta['date']}, {meta['device']})", "",
             f"`{meta['command']}`; media: Debian opencv-doc 4.6.0 (messi5.jpg, "
             f"basketball1.png, basketball2.png, the first {len(video)} frames of vtest.avi); "
             "labels by eye: bench/real_media_labels.json (bench/real_media_labels.md).", "",
             "R / P: detection recall / precision at IoU 0.5, people at least 50 px tall. "
             "PCK: share of the 12 limb joints within 0.1 / 0.2 of the labelled box's longer "
             "side, a missed person's joints counted as wrong. hidden: people labelled partly "
             "hidden. facing: front/back right, of the people labelled front or back. Video "
             "scores are on the labelled frames (every 10th); id switches and tracks per "
             "pedestrian over them.", "", *_table(results), "",
             f"Plot: `{out.name}.png`. Overlays (labels green, person's left red, right blue): "
             + ", ".join(f"`{o}`" for o in overlays), ""]
    out.with_suffix(".md").write_text("\n".join(lines))
