"""Whether the fit's occlusion model finds the occluder: the full fit and the fit without the
occlusion model, on each test person behind the full fit's worst AdvOcc-80 square.

    python bench/occlusion_map.py [--images 8]

Reads each person's square from bench/results/accuracy.json (run bench/occlusion_benchmark.py
first, with the same --images), fits the occluded image both ways with the settings and
starts that benchmark fitted with, and compares the occlusion map with where the square
is: the map's mean inside and outside the square on the fitted body, its ROC AUC over the
body's pixels, and the AUC of the per-joint visibility against the joints the square
covers. It also records how much of
the fitted body lies under the square, which tells whether a fit without the occlusion
model moved the body off the occluder. Writes bench/results/occlusion_map.json, .md and
.png (for the first people: the occluded image, and each fit's body on the crop coloured
by its occlusion map, with the square outlined).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

# The repository root, so that nbf_ros imports without an install (as on the GPU machine).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from occlusion_benchmark import (  # noqa: E402
    benchmark_pipeline,
    person_targets,
    square_seed,
    test_people,
)
from record import environment  # noqa: E402

from nbf_ros.eval import occlusion as protocol  # noqa: E402 - AdvOcc squares and errors
from nbf_ros.eval.pose_metrics import roc_auc  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SIDE = 80
FITS = {"full fit": True, "fit without occlusion model": False}
FIELDS = ("map_inside", "map_outside", "pixel_auc", "joint_auc", "body_under_square",
          "mpjpe_mm")


def square_on_crop(crop_box: np.ndarray, corner: tuple[int, int], shape: tuple[int, int],
                   side: int = SIDE) -> np.ndarray:
    """Which pixels of a crop map (shape H x W) over crop_box [4] (image pixels) lie under
    the square of the given side at corner: bool [H, W]."""
    h, w = shape
    x0, y0, x1, y1 = np.asarray(crop_box, np.float64)
    # Crop pixel centres in the image, as PosePipeline._crops samples them.
    xs = x0 + (np.arange(w) + 0.5) / w * (x1 - x0)
    ys = y0 + (np.arange(h) + 0.5) / h * (y1 - y0)
    inside_x = (xs >= corner[0]) & (xs < corner[0] + side)
    inside_y = (ys >= corner[1]) & (ys < corner[1] + side)
    return inside_y[:, None] & inside_x[None, :]


def occluded(image: np.ndarray, index: int, corner: tuple[int, int]) -> np.ndarray:
    """Person ``index``'s image behind their AdvOcc-80 square at corner."""
    return protocol.with_square(image, protocol.textured_square(square_seed(index, SIDE), SIDE),
                                corner)


def fit_row(pipeline, scene, index: int, corner: tuple[int, int], robust: bool
            ) -> dict:  # noqa: ANN001 - a PosePipeline and a synth Scene
    """How one fit's occlusion map and joint visibility match the square on one person (the
    FIELDS), and the map on the body and the square on the crop, for the plot."""
    person = scene.people[0]
    truth, keypoints = person_targets(person)
    image = occluded(scene.image, index, corner)
    result = pipeline.refine(pipeline.readout([image], scene.K, person.box), robust=robust)
    occlusion = result.occlusion[0].detach().cpu().numpy()
    body = result.foreground[0].detach().cpu().numpy() > 0.5
    crop_box = pipeline.crop_boxes(np.asarray(person.box, np.float64)[None])[0]
    under = square_on_crop(crop_box, corner, occlusion.shape)
    visibility = result.joint_visibility[0].detach().cpu().numpy()
    visibility = protocol.common_joints(visibility[:, None])[:, 0]
    hidden = protocol.covered(keypoints, corner, SIDE)
    joints = protocol.common_joints(result.joints[0].detach().cpu().numpy())
    return {
        "map_inside": float(occlusion[body & under].mean()) if (body & under).any()
        else float("nan"),
        "map_outside": float(occlusion[body & ~under].mean()) if (body & ~under).any()
        else float("nan"),
        "pixel_auc": roc_auc(occlusion[body], under[body]),
        "joint_auc": roc_auc(1.0 - visibility, hidden),
        "body_under_square": float((body & under).sum() / max(int(body.sum()), 1)),
        "mpjpe_mm": protocol.pose_errors(joints, truth)[0],
        "map": np.where(body, occlusion, np.nan).tolist(),  # for the plot, off the body NaN
        "square": under.tolist(),
    }


def markdown(data: dict) -> str:
    """The report: one row per fit, the means over the people."""
    env = data["environment"]
    lines = [f"# Does the occlusion model find the occluder? ({env['date']}, {env['device']})",
             "",
             f"`python bench/occlusion_map.py --images {data['images']}`: each test person "
             "of bench/results/accuracy.json behind the full fit's worst AdvOcc-80 square, "
             "fitted with and without the occlusion model (the model file's settings, "
             f"{data['hypotheses']} starts). Means over {data['images']} people; the map is "
             "the fit's probability that a body pixel is occluded, read on the pixels the "
             "fitted body covers. A fit without the occlusion model gives every pixel to "
             "the body, so its map is 0 everywhere and its AUCs are 0.5 by construction; "
             "what it shows is where its body went. Plot: occlusion_map.png.",
             "",
             "| fit | map inside / outside the square | pixel AUC | joint visibility AUC "
             "| body under the square | MPJPE (mm) |",
             "|---|---|---|---|---|---|"]
    for name, row in data["means"].items():
        lines.append(f"| {name} | {row['map_inside']:.2f} / {row['map_outside']:.2f} | "
                     f"{row['pixel_auc']:.2f} | {row['joint_auc']:.2f} | "
                     f"{100 * row['body_under_square']:.0f}% | {row['mpjpe_mm']:.0f} |")
    lines += ["", "Per person (full fit / without the occlusion model):", "",
              "| person | square corner | pixel AUC | joint AUC | body under the square "
              "| MPJPE (mm) |", "|---|---|---|---|---|---|"]
    full, plain = (data["people"][name] for name in FITS)
    for i, (a, b) in enumerate(zip(full, plain, strict=True)):
        lines.append(f"| {i} | {tuple(data['corners'][i])} | {a['pixel_auc']:.2f} / "
                     f"{b['pixel_auc']:.2f} | {a['joint_auc']:.2f} / {b['joint_auc']:.2f} | "
                     f"{100 * a['body_under_square']:.0f}% / "
                     f"{100 * b['body_under_square']:.0f}% | {a['mpjpe_mm']:.0f} / "
                     f"{b['mpjpe_mm']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(data: dict, scenes: list, maps: dict, png: Path, shown: int = 4) -> None:  # noqa: ANN001
    """The occluded image and each fit's body on the crop, coloured by its occlusion map,
    with the square outlined, for the first people."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = min(shown, len(scenes))
    cmap = plt.get_cmap("plasma").copy()
    cmap.set_bad("black")  # off the fitted body
    fig, axes = plt.subplots(shown, 1 + len(FITS), figsize=(7.5, 2.5 * shown), squeeze=False)
    for i in range(shown):
        corner = tuple(data["corners"][i])
        axes[i, 0].imshow(occluded(scenes[i].image, i, corner))
        axes[i, 0].set_title(f"person {i}, worst 80 px square", fontsize=8)
        for k, name in enumerate(FITS, start=1):
            row = data["people"][name][i]
            shown_map, square = maps[name][i]
            axes[i, k].imshow(np.asarray(shown_map, float), vmin=0, vmax=1, cmap=cmap)
            axes[i, k].contour(np.asarray(square, float), levels=[0.5], colors="cyan",
                               linewidths=1)
            axes[i, k].set_title(f"{name}\nbody {100 * row['body_under_square']:.0f}% "
                                 f"under the square, MPJPE {row['mpjpe_mm']:.0f} mm",
                                 fontsize=7)
        for ax in axes[i]:
            ax.axis("off")
    fig.suptitle("fitted body on the crop: yellow = marked occluded, purple = seen; "
                 "cyan: the square; " + data["environment"]["device"], fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--accuracy", type=Path, default=RESULTS / "accuracy.json",
                        help="the occlusion benchmark's results, for the squares")
    args = parser.parse_args()
    try:
        accuracy = json.loads(args.accuracy.read_text())
        corners = accuracy["methods"]["full fit"]["advocc80_corners"]
        hypotheses = int(accuracy["fit"]["hypotheses"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{args.accuracy}: no full fit's AdvOcc-80 squares ({exc}); run "
                         "bench/occlusion_benchmark.py first") from None
    if accuracy.get("images") != args.images or len(corners) != args.images:
        raise SystemExit(f"{args.accuracy} holds {accuracy.get('images')} people, not "
                         f"--images {args.images}")
    import torch

    from nbf_ros.node_settings import default_settings

    # The starts the benchmark fitted with, since its squares are that fit's worst.
    pipeline = benchmark_pipeline(dict(default_settings(), device=args.device), hypotheses)
    scenes = test_people(args.images)
    people: dict[str, list[dict]] = {name: [] for name in FITS}
    maps: dict[str, list] = {name: [] for name in FITS}
    with torch.enable_grad():
        for i, scene in enumerate(tqdm(scenes, desc="people")):
            for name, robust in FITS.items():
                row = fit_row(pipeline, scene, i, tuple(corners[i]), robust)
                maps[name].append((row.pop("map"), row.pop("square")))
                people[name].append(row)
    data = {"environment": environment(pipeline.device), "images": args.images,
            "hypotheses": pipeline.fit_config.hypotheses, "corners": corners,
            "people": people,
            "means": {name: {f: float(np.nanmean([r[f] for r in rows])) for f in FIELDS}
                      for name, rows in people.items()}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "occlusion_map.json").write_text(json.dumps(data, indent=1) + "\n")
    report = markdown(data)
    (RESULTS / "occlusion_map.md").write_text(report)
    plot(data, scenes, maps, RESULTS / "occlusion_map.png")
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
