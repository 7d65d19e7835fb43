"""Synthetic datasets on disk: write_dataset, load_scene and the truth as HumanEstimates."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from nbf_ros.estimate import HumanEstimate, JointState
from nbf_ros.synth.dataset import DATASET_FORMAT, load_scene, truth_estimates, write_dataset
from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import PersonTruth, Scene, SceneConfig, render_scene
from nbf_ros.synth.truth import JointLabel

CONFIG = SceneConfig(height=48, width=64, extra_person_probability=1.0,
                     occluder_probability=1.0)
SEED, COUNT = 40, 2


@pytest.fixture(scope="module")
def dataset(mesh: BodyMesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-scene dataset (scenes SEED and SEED + 1); returns its index file."""
    return write_dataset(tmp_path_factory.mktemp("synth") / "data", mesh, COUNT, SEED, CONFIG,
                         progress=False)


@pytest.fixture(scope="module")
def scene(mesh: BodyMesh) -> Scene:
    """Scene SEED, rendered directly."""
    return render_scene(mesh, SEED, CONFIG)


def test_the_index_lists_the_scene_files_and_settings(dataset: Path, mesh: BodyMesh) -> None:
    index = json.loads(dataset.read_text())
    assert index["format"] == DATASET_FORMAT and index["version"] == 1
    assert index["count"] == COUNT and index["seed"] == SEED
    assert index["files"] == ["scene_000000.npz", "scene_000001.npz"]
    assert all((dataset.parent / name).is_file() for name in index["files"])
    assert index["joint_names"] == list(mesh.body.joint_names)
    assert index["joint_labels"] == {label.name.lower(): int(label) for label in JointLabel}
    assert index["scene_config"]["height"] == CONFIG.height
    assert index["scene_config"]["focal"] == list(CONFIG.focal)


def test_a_loaded_scene_equals_the_rendered_scene(dataset: Path, scene: Scene) -> None:
    loaded = load_scene(dataset.parent / "scene_000000.npz")
    for name in ("image", "K", "person", "kernel", "occluder"):
        expected, got = getattr(scene, name), getattr(loaded, name)
        assert got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    assert loaded.seed == SEED
    assert len(loaded.people) == len(scene.people) == 2
    for got, expected in zip(loaded.people, scene.people, strict=True):
        for field in dataclasses.fields(PersonTruth):
            a, b = getattr(got, field.name), getattr(expected, field.name)
            assert np.asarray(a).dtype == np.asarray(b).dtype, field.name
            np.testing.assert_array_equal(a, b, err_msg=field.name)


def test_scene_files_follow_the_seeds(dataset: Path) -> None:
    assert load_scene(dataset.parent / "scene_000001.npz").seed == SEED + 1


def test_writing_into_an_existing_dataset_is_refused(dataset: Path, mesh: BodyMesh) -> None:
    before = dataset.read_text()
    with pytest.raises(FileExistsError, match="already holds a dataset"):
        write_dataset(dataset.parent, mesh, 1, 0, CONFIG, progress=False)
    assert dataset.read_text() == before


def test_loading_a_missing_scene_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_scene(tmp_path / "scene_000000.npz")


def test_loading_another_npz_file_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, image=np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="not a synthetic scene file"):
        load_scene(path)


def test_truth_estimates_carry_each_persons_truth(scene: Scene, mesh: BodyMesh) -> None:
    estimates = truth_estimates(scene, mesh)
    assert all(isinstance(e, HumanEstimate) for e in estimates)
    assert [e.track_id for e in estimates] == list(range(1, len(scene.people) + 1))
    for estimate, person in zip(estimates, scene.people, strict=True):
        np.testing.assert_array_equal(estimate.joints, person.joints)
        np.testing.assert_array_equal(estimate.keypoints_2d, person.keypoints)
        np.testing.assert_array_equal(estimate.roi, person.box)
        np.testing.assert_array_equal(estimate.root_translation, person.translation)
        np.testing.assert_array_equal(estimate.root_rotation, person.rotations[0])
        np.testing.assert_array_equal(estimate.bone_rotations, person.rotations[1:])
        np.testing.assert_array_equal(estimate.shape, person.shape)
        assert estimate.occluded_fraction == pytest.approx(1.0 - person.visible_fraction)
        assert estimate.body_model == mesh.body.name
        assert estimate.joint_names == mesh.body.joint_names
        assert estimate.confidence == 1.0


def test_truth_joint_states_follow_the_labels(scene: Scene, mesh: BodyMesh) -> None:
    expected_state = {JointLabel.VISIBLE: JointState.VISIBLE,
                      JointLabel.SELF_OCCLUDED: JointState.VISIBLE,
                      JointLabel.OCCLUDED: JointState.OCCLUDED,
                      JointLabel.OUTSIDE: JointState.OUTSIDE_IMAGE}
    assert set(np.concatenate([p.labels for p in scene.people]).tolist()) == set(JointLabel)
    for estimate, person in zip(truth_estimates(scene, mesh), scene.people, strict=True):
        labels = [JointLabel(int(label)) for label in person.labels]
        assert estimate.joint_state.tolist() == [expected_state[label] for label in labels]
        seen = [label in (JointLabel.VISIBLE, JointLabel.SELF_OCCLUDED) for label in labels]
        assert estimate.joint_visibility.tolist() == [float(s) for s in seen]
