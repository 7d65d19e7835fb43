"""Photo backgrounds and photometric changes of training images: where they act, and that
scene i looks the same however often it is made."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from nbf_ros.synth.mesh import BodyMesh
from nbf_ros.synth.scenes import SceneConfig, render_scene
from nbf_ros.train.photos import PHOTOS, AugmentConfig, augment_image, load_photos
from nbf_ros.train.synthetic import SyntheticScenes

pytestmark = pytest.mark.skipif(importlib.util.find_spec("skimage") is None,
                                reason="scikit-image (the train extra) is not installed")
SMALL = SceneConfig(height=64, width=64, occluder_probability=1.0)


@pytest.fixture(scope="module")
def scene():
    return render_scene(BodyMesh.default(), 11, SMALL)


def test_every_listed_photo_loads_as_rgb() -> None:
    photos = load_photos()
    assert len(photos) == len(PHOTOS)
    assert all(p.ndim == 3 and p.shape[2] == 3 and min(p.shape[:2]) >= 150 for p in photos)


def test_a_photo_background_changes_the_background_and_leaves_people_and_occluders(
        scene) -> None:
    back = (scene.person < 0) & ~scene.occluder
    out = augment_image(scene.image, back, scene.occluder,
                        AugmentConfig(photo_background=1.0), seed=5)
    changed = np.abs(out.astype(int) - scene.image.astype(int)).sum(-1) > 0
    assert changed[back].mean() > 0.9
    assert not changed[~back].any()


def test_a_photo_occluder_retextures_only_the_occluders(scene) -> None:
    back = (scene.person < 0) & ~scene.occluder
    out = augment_image(scene.image, back, scene.occluder,
                        AugmentConfig(photo_occluder=1.0), seed=5)
    changed = np.abs(out.astype(int) - scene.image.astype(int)).sum(-1) > 0
    assert scene.occluder.any() and changed[scene.occluder].mean() > 0.8
    assert not changed[~scene.occluder].any()


def test_no_change_asked_gives_the_image_back(scene) -> None:
    back = (scene.person < 0) & ~scene.occluder
    out = augment_image(scene.image, back, scene.occluder, AugmentConfig(), seed=5)
    assert np.array_equal(out, scene.image)


def test_a_training_scene_looks_the_same_each_time_it_is_made() -> None:
    every = AugmentConfig(1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    data = SyntheticScenes(BodyMesh.default(), 40, 2, SMALL, augment=every)
    first, again = data[1]["image"], data[1]["image"]
    assert (first == again).all()
    assert not (first == data[0]["image"]).all()
