"""The depth twin of a posed body: mirror kernels, far-surface kernels, the twin's features
and the front/back score of image features against them."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from nbf_ros.nbv.volume import NeuralBodyVolume
from nbf_ros.synth.depth_twin import far_kernels, front_back_hits, mirror_kernels, twin_features
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import Scene, SceneConfig, render_scene
from nbf_ros.train.losses import kernel_neighbours

# Single people, no occluders: every body pixel shows the subject.
ALONE = replace(SceneConfig(), extra_people=0, occluder_probability=0.0)


def _rest(volume: NeuralBodyVolume) -> torch.Tensor:
    return volume.body.mean_rest()[0]


@pytest.fixture(scope="module")
def scene(mesh: BodyMesh) -> Scene:
    return render_scene(mesh, 11, ALONE)


@pytest.fixture(scope="module")
def far(mesh: BodyMesh, scene: Scene) -> torch.Tensor:
    person = scene.people[0]
    return far_kernels(mesh, torch.as_tensor(person.rotations),
                       torch.as_tensor(person.translation), torch.as_tensor(person.shape),
                       torch.as_tensor(scene.K), *scene.person.shape)


def test_a_kernels_mirror_lies_on_the_other_side_of_the_body(volume: NeuralBodyVolume) -> None:
    rest = _rest(volume)
    mirror = mirror_kernels(volume)
    side = rest[:, 0].abs() > 0.05  # clear of the body's midline

    assert bool((rest[mirror, 0][side].sign() == -rest[side, 0].sign()).all())
    # The mirrored position is met within the kernels' spacing.
    gap = (rest[mirror] * torch.tensor([-1.0, 1.0, 1.0]) - rest).norm(dim=-1)
    assert float(gap.max()) < 0.05


def test_far_kernels_cover_the_pixels_the_body_covers(scene: Scene,
                                                      far: torch.Tensor) -> None:
    body = torch.as_tensor(scene.kernel >= 0)

    # Every vertex keeps its pixel, so the outlines agree but for pixel centres grazing it.
    assert float((far[body] >= 0).float().mean()) > 0.99
    assert float((far[~body] >= 0).float().mean()) < 0.01


def test_far_kernels_lie_behind_the_visible_ones(volume: NeuralBodyVolume, scene: Scene,
                                                 far: torch.Tensor) -> None:
    person = scene.people[0]
    posed = volume.pose(torch.as_tensor(person.rotations)[None],
                        torch.as_tensor(person.translation)[None],
                        torch.as_tensor(person.shape)[None]).points[0]
    kernel = torch.as_tensor(scene.kernel).long()
    both = (kernel >= 0) & (far >= 0)
    depth_gap = posed[far[both], 2] - posed[kernel[both], 2]

    assert float((depth_gap > 0).float().mean()) > 0.9
    assert float(depth_gap.median()) > 0.05  # through the body, not the same surface


def test_the_twin_of_a_bone_towards_the_camera_points_away_from_it(
    volume: NeuralBodyVolume,
) -> None:
    def tilted(angle: float):  # the whole body turned about x: its long bones along depth
        c, s = math.cos(angle), math.sin(angle)
        rot = torch.eye(3).repeat(1, 24, 1, 1)
        rot[0, 0] = torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
        return volume.pose(rot, torch.tensor([[0.0, 0.0, 3.0]]),
                           torch.zeros(1, volume.body.num_shape))

    towards, away = tilted(math.pi / 2), tilted(-math.pi / 2)
    axis = (towards.rotations @ volume.bone_axis[:, :, None])[0, :, 2, 0]
    deep = axis[volume.kernel_joint].abs() > 0.9
    same = torch.arange(volume.num_kernels)  # no mirroring: the orientation bins alone

    twin = twin_features(volume, towards, same)[0]

    assert int(deep.sum()) > 100
    assert torch.allclose(twin[deep], volume.kernel_features(away)[0][deep], atol=1e-5)
    assert not torch.allclose(twin[deep], volume.kernel_features(towards)[0][deep], atol=1e-2)


def _front_back_inputs(volume: NeuralBodyVolume, scene: Scene, far: torch.Tensor):
    person = scene.people[0]
    posed = volume.pose(torch.as_tensor(person.rotations)[None],
                        torch.as_tensor(person.translation)[None],
                        torch.as_tensor(person.shape)[None])
    mirror = mirror_kernels(volume)
    return (torch.as_tensor(scene.kernel).long()[None], far[None],
            volume.kernel_features(posed), twin_features(volume, posed, mirror), mirror,
            kernel_neighbours(volume, 0.1))


def _features_at(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Each pixel showing the feature ``table[index]`` (zero where index is -1)."""
    return table[0][index.clamp_min(0)] * (index >= 0)[..., None]


def test_features_of_the_true_kernels_always_beat_the_twin(volume: NeuralBodyVolume,
                                                           scene: Scene,
                                                           far: torch.Tensor) -> None:
    kernel, far_b, kfeat, twin, mirror, near = _front_back_inputs(volume, scene, far)

    hits = front_back_hits(_features_at(kfeat, kernel), kernel, far_b, kfeat, twin, mirror,
                           near)

    assert len(hits) > 100 and bool(hits.all())


def test_features_of_the_twin_never_beat_it(volume: NeuralBodyVolume, scene: Scene,
                                            far: torch.Tensor) -> None:
    kernel, far_b, kfeat, twin, mirror, near = _front_back_inputs(volume, scene, far)

    hits = front_back_hits(_features_at(twin, far_b), kernel, far_b, kfeat, twin, mirror, near)

    assert len(hits) > 100 and not bool(hits.any())


def test_cells_whose_twin_shows_a_neighbour_are_not_scored(volume: NeuralBodyVolume,
                                                          scene: Scene,
                                                          far: torch.Tensor) -> None:
    kernel, far_b, kfeat, twin, mirror, near = _front_back_inputs(volume, scene, far)
    feats = _features_at(kfeat, kernel)
    pair = (kernel >= 0) & (far_b >= 0)
    apart = ~near[kernel[pair], mirror[far_b[pair]]]

    everyone = torch.ones_like(near)  # every kernel a neighbour of every other

    assert len(front_back_hits(feats, kernel, far_b, kfeat, twin, mirror, near)) == int(
        apart.sum())
    assert len(front_back_hits(feats, kernel, far_b, kfeat, twin, mirror, everyone)) == 0
