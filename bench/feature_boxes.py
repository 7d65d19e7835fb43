"""How well a feature model tells people from clutter on real images: its body posterior
inside and outside the labelled people boxes of the real-media benchmark.

    python bench/feature_boxes.py --models models/nbf_anny_net.pt runs/x/model.pt
    python bench/feature_boxes.py --models A B --frames 60 --name feature_boxes_quick

Media and labels are those of bench/real_media.py (its ``fetch_media``; Debian's opencv-doc,
never committed; labels in bench/real_media_labels.json): 3 photographs and the labelled
frames of vtest.avi. Each labelled person is read as the pipeline reads a detection: a
square crop on the box centre, side 1.25 x the box's longer edge (BlazePose's ROI rule),
resized to the model's input size. At every feature cell the body posterior is the
softmax mass of the kernels against kernels + clutter, over all kernels and orientation bins
at the model's training temperature (0.07), the quantity the fit's ``posterior`` match reads
(nbf_ros/nbv/likelihood.py, ``posterior_normaliser``), without a pose.

Per person: ``inside``, the share of the crop's body mass that falls inside a labelled box
(any person's), against ``area``, the share of the crop's cells inside one (what a posterior
spread evenly would score); ``auc``, how well the posterior ranks cells inside boxes above
cells outside (0.5 is chance); mean posterior inside and outside. Cells of the crop beyond
the image edge are left out. Also each network's forward time on one crop (median of 30,
batch 1, after 5 warm-up runs; the models in turns, the lowest of three rounds). Means over
people are written to ``bench/results/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_media import fetch_media, read_video  # noqa: E402
from record import RESULTS, environment  # noqa: E402

from nbf_ros.nbv.likelihood import posterior_normaliser  # noqa: E402
from nbf_ros.nbv.volume import NeuralBodyVolume  # noqa: E402
from nbf_ros.paths import source_root  # noqa: E402
from nbf_ros.vision.network import STRIDE, FeatureNet  # noqa: E402
from nbf_ros.vision.weights import load_model, resolve_model_path  # noqa: E402

TEMPERATURE = 0.07  # the InfoNCE temperature the models were trained at
ROI_SCALE = 1.25


def crop(image: np.ndarray, box: list[float], size: int) -> tuple[torch.Tensor, np.ndarray]:
    """The person's square crop [3, size, size] in [0, 1] and its corners (x0, y0, side)."""
    x0, y0, x1, y1 = box
    side = ROI_SCALE * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    corner = np.array([cx - side / 2, cy - side / 2, side])
    pil = Image.fromarray(image).crop((int(round(corner[0])), int(round(corner[1])),
                                       int(round(corner[0] + side)),
                                       int(round(corner[1] + side))))
    pil = pil.resize((size, size), Image.BILINEAR)  # outside the image: black
    return torch.from_numpy(np.asarray(pil, np.float32) / 255.0).permute(2, 0, 1), corner


def person_scores(posterior: np.ndarray, corner: np.ndarray, boxes: list[list[float]],
                  shape: tuple[int, int]) -> dict[str, float]:
    """Scores of one crop's [h, w] body posterior against the image's labelled boxes."""
    h, w = posterior.shape
    step = corner[2] / w
    xs = corner[0] + (np.arange(w) + 0.5) * step
    ys = corner[1] + (np.arange(h) + 0.5) * step
    gx, gy = np.meshgrid(xs, ys)
    valid = (gx >= 0) & (gx < shape[1]) & (gy >= 0) & (gy < shape[0])
    inside = np.zeros_like(valid)
    for x0, y0, x1, y1 in boxes:
        inside |= (gx >= x0) & (gx <= x1) & (gy >= y0) & (gy <= y1)
    p, lab = posterior[valid], inside[valid]
    return {"inside": float((p * lab).sum() / max(p.sum(), 1e-9)), "area": float(lab.mean()),
            "auc": _auc(p, lab), "p_in": float(p[lab].mean()) if lab.any() else float("nan"),
            "p_out": float(p[~lab].mean()) if (~lab).any() else float("nan")}


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (ties counted half), NaN when one class is empty."""
    pos, neg = score[label], score[~label]
    if not len(pos) or not len(neg):
        return float("nan")
    # Ranks averaged over ties, so equal scores count half (Mann-Whitney U).
    _, inverse, counts = np.unique(np.concatenate((pos, neg)), return_inverse=True,
                                   return_counts=True)
    starts = np.cumsum(counts) - counts
    ranks = starts[inverse] + (counts[inverse] - 1) / 2.0
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) - 1) / 2) /
                 (len(pos) * len(neg)))


def body_posterior(net: FeatureNet, volume: NeuralBodyVolume,
                   crops: torch.Tensor) -> np.ndarray:  # [B, 3, H, W] -> [B, h, w]
    """Body mass of the kernels-or-clutter softmax at every feature cell."""
    with torch.no_grad():
        out = net(crops)
        b, d, h, w = out.features.shape
        feats = out.features.permute(0, 2, 3, 1).reshape(b, h * w, d)
        kernels = F.normalize(volume.features.reshape(1, -1, d), dim=-1).expand(b, -1, -1)
        _, clutter = posterior_normaliser(feats, kernels, volume.clutter, TEMPERATURE)
    return (1.0 - clutter).reshape(b, h, w).numpy()


def forward_ms(net: FeatureNet, size: int) -> float:
    """Median forward time of one crop, milliseconds."""
    x = torch.rand(1, 3, size, size)
    times = []
    with torch.no_grad():
        for i in range(35):
            tic = time.perf_counter()
            net(x)
            if i >= 5:
                times.append(time.perf_counter() - tic)
    return float(np.median(times) * 1e3)


def samples(media: Path, labels: dict, frames: int) -> list[tuple[str, np.ndarray, list]]:
    """(source, RGB image, boxes) of the photos and the labelled video frames."""
    out = []
    for name, entry in labels["images"].items():
        image = np.asarray(Image.open(media / name).convert("RGB"))
        out.append(("photos", image, [p["box"] for p in entry["people"]]))
    video = read_video(media / labels["video"]["file"], frames)
    for index, entry in sorted(labels["video"]["frames"].items(), key=lambda kv: int(kv[0])):
        if int(index) < len(video):
            out.append(("video", video[int(index)], [p["box"] for p in entry["people"]]))
    return out


def evaluate(model: Path, data: list) -> dict:
    """Mean scores per source, and the forward time, of one model file."""
    net, volume, meta = load_model(model)
    size = int(meta.get("image_size", [128, 128])[0])
    per: dict[str, list[dict[str, float]]] = {}
    for source, image, boxes in data:
        crops, corners = zip(*(crop(image, b, size) for b in boxes), strict=True)
        post = body_posterior(net, volume, torch.stack(crops))
        assert post.shape[-1] == size // STRIDE
        for p, corner in zip(post, corners, strict=True):
            per.setdefault(source, []).append(person_scores(p, corner, boxes, image.shape[:2]))
    steps, run = 0, meta
    while run:  # every training run behind the file, each recorded as the next one's origin
        steps, run = steps + int(run.get("steps", 0)), run.get("origin")
    result = {"model": str(model), "backbone": net.config.backbone, "image_size": size,
              "steps": steps}
    for source, rows in per.items():
        result[source] = {"people": len(rows), **{k: float(np.nanmean([r[k] for r in rows]))
                                                   for k in rows[0]}}
    return result


def main(argv: list[str] | None = None) -> int:
    """Score each model; write the JSON and a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="model files")
    parser.add_argument("--frames", type=int, default=200, help="video frames to read")
    parser.add_argument("--media", type=Path, default=source_root() / ".cache" / "opencv-doc")
    parser.add_argument("--name", default="feature_boxes", help="results file name")
    args = parser.parse_args(argv)
    labels = json.loads((Path(__file__).parent / "real_media_labels.json").read_text())
    data = samples(fetch_media(args.media), labels, args.frames)
    results = [evaluate(resolve_model_path(m), data) for m in args.models]
    # Timed in turns, three rounds, the lowest median kept: the load of a shared machine
    # changes over minutes and should not fall on one model alone.
    nets = [load_model(resolve_model_path(m))[0] for m in args.models]
    times = [[forward_ms(net, r["image_size"]) for net, r in zip(nets, results, strict=True)]
             for _ in range(3)]
    for i, r in enumerate(results):
        r["forward_ms"] = min(t[i] for t in times)
    env = environment(torch.device("cpu"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(
        {"environment": env, "frames": args.frames, "results": results}, indent=2) + "\n")
    lines = ["| model | backbone | source | people | body mass inside boxes | box area share | "
             "AUC | mean posterior in / out | forward ms (1 crop) |", "|---" * 9 + "|"]
    for r in results:
        for source in ("photos", "video"):
            s = r.get(source)
            if s:
                lines.append(f"| {Path(r['model']).name} ({r['steps']} steps) | "
                             f"{r['backbone']} | {source} | {s['people']} | {s['inside']:.3f} | "
                             f"{s['area']:.3f} | {s['auc']:.3f} | {s['p_in']:.3f} / "
                             f"{s['p_out']:.3f} | {r['forward_ms']:.1f} |")
    table = "\n".join(lines)
    (RESULTS / f"{args.name}.md").write_text(
        f"# Body posterior inside labelled people boxes ({env.get('date', '')})\n\n"
        f"`python bench/feature_boxes.py --models {' '.join(args.models)} --frames "
        f"{args.frames}`; device: {env.get('device')}. Forward times on a machine shared "
        f"with other jobs are upper bounds.\n\n{table}\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
