"""Image reading, keypoint boxes and the checks of the common annotation record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nbf_ros.train.datasets import PersonAnnotation, keypoint_box, load_image


def test_load_image_returns_rgb_uint8_even_for_grey_files(tmp_path: Path) -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey, mode="L").save(tmp_path / "image_00000.png")

    image = load_image(tmp_path / "image_00000.png")

    assert image.shape == (3, 4, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[..., 1], grey)


def test_load_image_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"image_00007\.jpg"):
        load_image(tmp_path / "image_00007.jpg")


def test_load_image_of_a_non_image_is_a_value_error(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("not an image")

    with pytest.raises(ValueError, match=r"not an image"):
        load_image(tmp_path / "notes.jpg")


def test_keypoint_box_pads_every_side_by_margin_times_the_longer_side() -> None:
    points = np.array([[10.0, 20.0, 1.0], [50.0, 30.0, 1.0], [500.0, 500.0, 0.0]])

    box = keypoint_box(points, margin=0.25)

    np.testing.assert_allclose(box, [0.0, 10.0, 60.0, 40.0])


def test_keypoint_box_needs_two_usable_points() -> None:
    points = np.array([[10.0, 20.0, 1.0], [50.0, 30.0, 0.0]])

    assert keypoint_box(points) is None


def _record(**changes: object) -> PersonAnnotation:
    """A valid record with some fields replaced."""
    fields: dict[str, object] = dict(
        dataset="test", image_path=Path("a.jpg"), sequence="a", person_id=0, frame_index=0,
        K=np.eye(3), intrinsics_known=True, pose=np.tile(np.eye(3), (24, 1, 1)),
        betas=np.zeros(10), gender="neutral", translation=np.zeros(3), smpl_transl=None,
        joints_cam=None, keypoints=np.zeros((2, 3)), keypoint_names=("nose", "neck"),
        box=None, valid=True,
    )
    fields.update(changes)
    return PersonAnnotation(**fields)  # type: ignore[arg-type]


def test_record_refuses_arrays_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"PersonAnnotation\.pose: expected .* \(24, 3, 3\)"):
        _record(pose=np.zeros((23, 3, 3)))


def test_record_refuses_keypoints_that_do_not_match_their_names() -> None:
    with pytest.raises(ValueError, match=r"PersonAnnotation\.keypoints"):
        _record(keypoints=np.zeros((3, 3)))


def test_record_refuses_unknown_genders() -> None:
    with pytest.raises(ValueError, match=r"gender"):
        _record(gender="m")


def test_with_rest_pelvis_derives_smpl_transl_from_the_pelvis() -> None:
    record = _record(translation=np.array([1.0, 2.0, 3.0]))

    filled = record.with_rest_pelvis(np.array([0.0, -0.2, 0.1]))

    np.testing.assert_allclose(filled.smpl_transl, [1.0, 2.2, 2.9])
    assert record.smpl_transl is None  # the original is left unchanged
