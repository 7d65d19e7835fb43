"""Synthetic datasets on disk: one compressed .npz per scene plus a dataset.json index.

Training makes its scenes on the fly; a dataset on disk is for sharing a fixed test set,
for other tools, and for looking at what training sees.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from nbf_ros.estimate import HumanEstimate
from nbf_ros.progress import tqdm
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import PersonTruth, Scene, SceneConfig, render_scene
from nbf_ros.synth.truth import JointLabel, label_to_state

__all__ = ["DATASET_FORMAT", "load_scene", "truth_estimates", "write_dataset"]

DATASET_FORMAT = "nbf_ros.synthetic_dataset"
_PERSON_FIELDS = ("rotations", "translation", "shape", "joints", "keypoints", "labels", "box")


def truth_estimates(scene: Scene, mesh: BodyMesh) -> list[HumanEstimate]:
    """The scene's people as HumanEstimate records (track id = person index + 1)."""
    out = []
    for p, person in enumerate(scene.people):
        labels = person.labels
        seen = (labels == JointLabel.VISIBLE) | (labels == JointLabel.SELF_OCCLUDED)
        out.append(HumanEstimate(
            joints=person.joints, joint_visibility=seen.astype(np.float32),
            joint_state=label_to_state(torch.as_tensor(labels)).numpy(),
            keypoints_2d=person.keypoints, root_translation=person.translation,
            root_rotation=person.rotations[0], bone_rotations=person.rotations[1:],
            shape=person.shape, roi=person.box, track_id=p + 1, confidence=1.0,
            body_model=mesh.body.name, joint_names=mesh.body.joint_names,
            shape_names=mesh.body.shape_names,
            occluded_fraction=person.hidden_fraction))
    return out


def _scene_arrays(scene: Scene) -> dict[str, np.ndarray]:
    """Flat arrays of a scene for np.savez."""
    arrays = {"image": scene.image, "K": scene.K, "person": scene.person,
              "kernel": scene.kernel, "occluder": scene.occluder, "seed": np.array(scene.seed),
              "visible_fraction": np.array([p.visible_fraction for p in scene.people]),
              "hidden_fraction": np.array([p.hidden_fraction for p in scene.people])}
    for name in _PERSON_FIELDS:
        arrays[f"people/{name}"] = np.stack([getattr(p, name) for p in scene.people])
    return arrays


def load_scene(path: str | Path) -> Scene:
    """Read one scene file of a dataset."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scene file not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in ("image", "K", "person", "kernel", "occluder") if k not in data]
        if missing:
            raise ValueError(f"{path} is not a synthetic scene file (missing {missing})")
        count = len(data["visible_fraction"])
        people = [PersonTruth(**{f: data[f"people/{f}"][p] for f in _PERSON_FIELDS},
                              visible_fraction=float(data["visible_fraction"][p]),
                              hidden_fraction=float(data["hidden_fraction"][p]))
                  for p in range(count)]
        return Scene(data["image"], data["K"], data["person"], data["kernel"],
                     data["occluder"], people, int(data["seed"]))


def write_dataset(out_dir: str | Path, mesh: BodyMesh, count: int, seed: int,
                  config: SceneConfig, progress: bool = True) -> Path:
    """Render scenes seed .. seed + count - 1 into out_dir; returns the index file."""
    out_dir = Path(out_dir)
    index = out_dir / "dataset.json"
    if index.exists():
        raise FileExistsError(f"{out_dir} already holds a dataset; pick a new folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for i in tqdm(range(count), desc="synth", unit="scene", disable=not progress):
        scene = render_scene(mesh, seed + i, config)
        name = f"scene_{i:06d}.npz"
        np.savez_compressed(out_dir / name, **_scene_arrays(scene))
        files.append(name)
    config_dict = {k: list(v) if isinstance(v, tuple) else v
                   for k, v in dataclasses.asdict(config).items()}
    index.write_text(json.dumps({
        "format": DATASET_FORMAT, "version": 1, "seed": seed, "count": count,
        "body_model": mesh.body.name, "joint_names": list(mesh.body.joint_names),
        "joint_labels": {label.name.lower(): int(label) for label in JointLabel},
        "scene_config": config_dict, "files": files}, indent=1))
    return index
