"""Synthetic training samples: scene seed + i as tensors, labels at the network's stride,
people padded to a fixed count, and batches stacked by collate_scenes."""

from __future__ import annotations

import pytest
import torch

from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import Scene, SceneConfig, render_scene
from nbf_ros.synth.truth import JointLabel
from nbf_ros.train.synthetic import (
    STRIDE,
    SyntheticScenes,
    collate_scenes,
    far_cells,
    scene_tensors,
)

SEED = 3
LENGTH = 3
CONFIG = SceneConfig(height=64, width=64)  # up to 1 extra person


@pytest.fixture(scope="module")
def mesh() -> BodyMesh:
    return BodyMesh.default()


@pytest.fixture(scope="module")
def dataset(mesh: BodyMesh) -> SyntheticScenes:
    return SyntheticScenes(mesh, SEED, LENGTH, CONFIG)


@pytest.fixture(scope="module")
def items(dataset: SyntheticScenes) -> list[dict[str, torch.Tensor]]:
    return [dataset[i] for i in range(LENGTH)]


@pytest.fixture(scope="module")
def scenes(mesh: BodyMesh) -> list[Scene]:
    return [render_scene(mesh, SEED + i, CONFIG) for i in range(LENGTH)]


def test_item_i_is_the_scene_of_seed_plus_i(items, scenes) -> None:
    for item, scene in zip(items, scenes, strict=True):
        expected = scene_tensors(scene, 1 + CONFIG.extra_people)
        assert item.keys() == expected.keys()
        for key in expected:
            assert torch.equal(item[key], expected[key]), key


def test_items_differ_between_seeds(items) -> None:
    assert not torch.equal(items[0]["image"], items[1]["image"])


def test_length_is_the_number_of_scenes(dataset: SyntheticScenes) -> None:
    assert len(dataset) == LENGTH


@pytest.mark.parametrize("index", [LENGTH, LENGTH + 5, -1])
def test_an_index_out_of_range_raises_index_error(dataset: SyntheticScenes, index: int) -> None:
    with pytest.raises(IndexError):
        dataset[index]


def test_image_is_rgb_in_zero_to_one_at_full_size(items, scenes) -> None:
    image = items[0]["image"]

    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    torch.testing.assert_close(image * 255, torch.as_tensor(scenes[0].image).permute(2, 0, 1)
                               .float())


def test_kernel_and_person_maps_are_read_at_the_centre_of_each_stride_4_cell(
    items, scenes
) -> None:
    item, scene = items[0], scenes[0]
    assert STRIDE == 4

    assert item["kernel"].shape == (16, 16) and item["kernel"].dtype == torch.long
    assert item["person"].shape == (16, 16) and item["person"].dtype == torch.long
    for row, col in [(0, 0), (5, 9), (8, 8), (15, 15)]:
        assert int(item["kernel"][row, col]) == int(scene.kernel[4 * row + 2, 4 * col + 2])
        assert int(item["person"][row, col]) == int(scene.person[4 * row + 2, 4 * col + 2])
    assert bool((item["kernel"] >= 0).any())  # the subject is in the picture


def test_people_are_padded_to_one_plus_extra_people(items, scenes) -> None:
    counts = [len(scene.people) for scene in scenes]
    assert sorted(set(counts)) == [1, 2]  # the seeds cover both cases

    for item, count in zip(items, counts, strict=True):
        assert item["rotations"].shape == (2, 24, 3, 3)
        assert item["translation"].shape == (2, 3)
        assert item["shape"].shape == (2, 6)
        assert item["joints"].shape == (2, 24, 3)
        assert item["keypoints"].shape == (2, 24, 2)
        assert item["labels"].shape == (2, 24)
        assert item["box"].shape == (2, 4)
        assert item["valid"].tolist() == [True] * count + [False] * (2 - count)


def test_real_people_carry_their_truth(items, scenes) -> None:
    item, person = items[0], scenes[0].people[0]

    torch.testing.assert_close(item["rotations"][0], torch.as_tensor(person.rotations))
    torch.testing.assert_close(item["translation"][0], torch.as_tensor(person.translation))
    torch.testing.assert_close(item["keypoints"][0], torch.as_tensor(person.keypoints))
    assert item["labels"][0].tolist() == person.labels.tolist()
    assert float(item["visible"][0]) == pytest.approx(person.visible_fraction)


def test_padding_people_are_identity_bodies_in_front_of_the_camera_outside_the_image(
    mesh: BodyMesh,
) -> None:
    alone = SceneConfig(height=64, width=64, extra_people=2, extra_person_probability=0.0)

    item = SyntheticScenes(mesh, SEED, 1, alone)[0]

    assert item["valid"].tolist() == [True, False, False]
    pad = slice(1, None)
    assert torch.equal(item["rotations"][pad], torch.eye(3).expand(2, 24, 3, 3))
    assert item["translation"][pad].tolist() == [[0.0, 0.0, 3.0]] * 2
    assert bool((item["labels"][pad] == JointLabel.OUTSIDE).all())
    assert float(item["visible"][pad].abs().max()) == 0.0
    assert float(item["box"][pad].abs().max()) == 0.0


def test_scene_tensors_keep_the_first_people_when_there_are_more(scenes) -> None:
    scene = next(s for s in scenes if len(s.people) == 2)

    tensors = scene_tensors(scene, 1)

    assert tensors["valid"].tolist() == [True]
    torch.testing.assert_close(tensors["translation"][0],
                               torch.as_tensor(scene.people[0].translation))


def test_collate_stacks_every_tensor(items) -> None:
    batch = collate_scenes(items)

    assert batch.keys() == items[0].keys()
    for key, value in batch.items():
        assert value.shape == (LENGTH, *items[0][key].shape), key
        for i in range(LENGTH):
            assert torch.equal(value[i], items[i][key]), key
    assert batch["image"].shape == (LENGTH, 3, 64, 64)


def test_with_twins_each_cell_seen_on_a_person_holds_that_persons_far_kernel(
    mesh: BodyMesh, scenes,
) -> None:
    with_twins = SyntheticScenes(mesh, SEED, LENGTH, CONFIG, twins=True)
    for i, scene in enumerate(scenes):
        item = with_twins[i]
        seen = item["person"] >= 0

        assert item["far"].shape == item["kernel"].shape
        assert bool((item["far"][~seen] == -1).all())
        assert float((item["far"][seen] >= 0).float().mean()) > 0.95
        assert torch.equal(item["far"], far_cells(mesh, scene))
