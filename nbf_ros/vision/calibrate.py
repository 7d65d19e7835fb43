"""Fit a model's kernel geometry to the silhouettes its network learned (nbv/silhouette.py).

    python -m nbf_ros.vision.calibrate MODEL_FILE [--scenes 64]

Renders single-person synthetic scenes at the model's training size, grid-searches kernel
radius scale, inward offset and opacity for the best IoU between the rendered coverage and
the mesh silhouette at the feature grid, and rewrites the model file with that geometry
(recorded in its metadata under "silhouette"). Training runs it on every model it writes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from nbf_ros.nbv.camera import CropCamera
from nbf_ros.nbv.silhouette import inset_volume, kernel_normals, match_silhouettes
from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import SceneConfig
from nbf_ros.train.synthetic import STRIDE, SyntheticScenes, collate_scenes
from nbf_ros.vision.weights import load_model, resolve_model_path, save_model

__all__ = ["CALIBRATION_SEED", "calibrate_model", "main"]

CALIBRATION_SEED = 3_000_000_000  # away from training's, validation's and the test seeds


@torch.no_grad()
def calibrate_model(path: str | Path, mesh: BodyMesh, scenes: int = 64) -> dict:
    """Choose and store the kernel geometry of a model file; returns what was recorded."""
    net, volume, meta = load_model(path)
    data = torch.load(path, map_location="cpu", weights_only=True)
    height, width = meta.get("image_size", [128, 128])
    cfg = SceneConfig(height=height, width=width, extra_people=0, occluder_probability=0.0)
    dataset = SyntheticScenes(mesh, CALIBRATION_SEED, scenes, cfg)
    batch = collate_scenes([dataset[i] for i in range(scenes)])
    K = batch["K"].clone()
    K[:, :2] /= STRIDE
    camera = CropCamera(K, height // STRIDE, width // STRIDE)
    mask = batch["person"] == 0
    normals = kernel_normals(volume, mesh.rest_vertices()[0], mesh.faces)
    # Start from the shipped geometry, whatever an earlier calibration stored.
    shipped = NeuralBodyVolume.load(resolve_model_path(data["volume_file"]))
    base = NeuralBodyVolume(shipped.body, shipped.sigma, volume.features, volume.clutter,
                            shipped.joint_kernel_weights, shipped.bin_width)
    best, rows = match_silhouettes(base, normals, batch["rotations"][:, 0],
                                   batch["translation"][:, 0], batch["shape"][:, 0], camera,
                                   mask)
    shipped = next(r for r in rows if r[0].sigma_scale == 1.0 and r[0].inset == 0.0
                   and r[0].opacity == 5.0)
    chosen = next(r for r in rows if r[0] == best)
    meta["silhouette"] = {
        "geometry": asdict(best), "area_ratio": round(chosen[1], 3), "iou": round(chosen[2], 3),
        "shipped_area_ratio": round(shipped[1], 3), "shipped_iou": round(shipped[2], 3),
        "scenes": scenes, "seed": CALIBRATION_SEED,
    }
    meta.pop("render_opacity", None)
    save_model(path, net, inset_volume(base, normals, best), data["volume_file"], meta,
               render_opacity=best.opacity)
    return meta["silhouette"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry."""
    parser = argparse.ArgumentParser(prog="python -m nbf_ros.vision.calibrate",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--scenes", type=int, default=64)
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"model file not found: {args.model}")
    result = calibrate_model(args.model, BodyMesh.default(), args.scenes)
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
