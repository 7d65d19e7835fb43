"""Synthetic training samples made on the fly: scene i of a run is ``render_scene(seed + i)``.

Map-style, so sample i is the same whichever worker renders it and a resumed run continues
with the next unseen seeds; workers shard by index, never duplicating a sample.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from nbf_ros.synth.depth_twin import far_kernels
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import Scene, SceneConfig, render_scene
from nbf_ros.train.photos import AugmentConfig, augment_image
from nbf_ros.vision.network import STRIDE  # labels are read at each output cell's centre

__all__ = ["STRIDE", "SyntheticScenes", "collate_scenes", "far_cells", "scene_tensors"]



def scene_tensors(scene: Scene, max_people: int) -> dict[str, Tensor]:
    """Tensors of one scene, people padded to ``max_people`` (``valid`` marks real ones)."""
    people = scene.people[:max_people]
    num_j = people[0].joints.shape[0]
    num_s = people[0].shape.shape[0]
    rot = torch.eye(3).repeat(max_people, num_j, 1, 1)
    trans = torch.zeros(max_people, 3)
    trans[:, 2] = 3.0  # padding bodies sit in front of the camera: their math stays finite
    shape = torch.zeros(max_people, num_s)
    joints = torch.zeros(max_people, num_j, 3)
    keypoints = torch.zeros(max_people, num_j, 2)
    labels = torch.full((max_people, num_j), 2, dtype=torch.uint8)
    box = torch.zeros(max_people, 4)
    visible = torch.zeros(max_people)
    for p, person in enumerate(people):
        rot[p] = torch.as_tensor(person.rotations)
        trans[p] = torch.as_tensor(person.translation)
        shape[p] = torch.as_tensor(person.shape)
        joints[p] = torch.as_tensor(person.joints)
        keypoints[p] = torch.as_tensor(person.keypoints)
        labels[p] = torch.as_tensor(person.labels)
        box[p] = torch.as_tensor(person.box)
        visible[p] = person.visible_fraction
    valid = torch.arange(max_people) < len(people)
    c = STRIDE // 2
    return {
        "image": torch.as_tensor(scene.image).permute(2, 0, 1).float() / 255.0,
        "K": torch.as_tensor(scene.K),
        "kernel": torch.as_tensor(scene.kernel[c::STRIDE, c::STRIDE]).long(),
        "person": torch.as_tensor(scene.person[c::STRIDE, c::STRIDE]).long(),
        "rotations": rot, "translation": trans, "shape": shape, "joints": joints,
        "keypoints": keypoints, "labels": labels, "box": box, "visible": visible,
        "valid": valid,
    }


def far_cells(mesh: BodyMesh, scene: Scene) -> Tensor:  # -> [h, w] long
    """At each output cell's centre pixel, the kernel on the far surface of the person seen
    there (the depth twin's labels, ``nbf_ros.synth.depth_twin``), -1 where none is seen."""
    height, width = scene.person.shape
    K = torch.as_tensor(scene.K)
    c = STRIDE // 2
    person = torch.as_tensor(scene.person[c::STRIDE, c::STRIDE]).long()
    far = torch.full(person.shape, -1, dtype=torch.long)
    for p in torch.unique(person[person >= 0]).tolist():
        truth = scene.people[p]
        whole = far_kernels(mesh, torch.as_tensor(truth.rotations),
                            torch.as_tensor(truth.translation), torch.as_tensor(truth.shape), K,
                            height, width)[c::STRIDE, c::STRIDE]
        far = torch.where(person == p, whole, far)
    return far


class SyntheticScenes(Dataset):
    """Scenes ``seed + index`` for index in [0, length), as training tensors; with ``twins``
    each also holds ``far`` (far_cells), which the depth-twin loss needs; ``augment``: photo
    backgrounds and photometric changes (nbf_ros.train.photos), drawn from each scene's seed."""

    def __init__(self, mesh: BodyMesh, seed: int, length: int, config: SceneConfig,
                 twins: bool = False, augment: AugmentConfig | None = None) -> None:
        self.mesh, self.seed, self.length, self.config = mesh, seed, length, config
        self.max_people = 1 + config.extra_people
        self.twins = twins
        self.augment = augment if augment is not None and augment.active() else None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        scene = render_scene(self.mesh, self.seed + index, self.config)
        if self.augment is not None:
            scene.image = augment_image(scene.image, (scene.person < 0) & ~scene.occluder,
                                        scene.occluder, self.augment, self.seed + index)
        out = scene_tensors(scene, self.max_people)
        if self.twins:
            out["far"] = far_cells(self.mesh, scene)
        return out


def collate_scenes(samples: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Stack samples into a batch."""
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
