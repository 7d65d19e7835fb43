"""EFT loader: stand-in fit files in facebookresearch/eft's json format, read back as
annotations with a documented camera convention."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nbf_ros.train.datasets import (
    COCO17_NAMES,
    SPIN49_NAMES,
    SPIN49_TO_COCO17,
    DatasetFormatError,
    load_eft,
)
from tests.train.standins import SPIN_GT_NAMES, eft_entry, write_eft_json


@pytest.fixture()
def fit_file(tmp_path: Path) -> Path:
    """A two-entry EFT json for COCO."""
    return write_eft_json(tmp_path / "COCO2014-All-ver01.json", [
        eft_entry("COCO_train2014_000000000036.jpg", annot_id=1234),
        eft_entry("COCO_train2014_000000000049.jpg", annot_id=5678, scale=0.8),
    ])


def test_one_record_per_entry_with_its_image_under_image_root(
    fit_file: Path, tmp_path: Path
) -> None:
    data = load_eft(fit_file, tmp_path / "train2014")

    assert len(data) == 2
    record = data[1]
    assert record.dataset == "eft"
    assert record.image_path == tmp_path / "train2014" / "COCO_train2014_000000000049.jpg"
    assert (record.sequence, record.person_id, record.frame_index) == (
        "COCO_train2014_000000000049", 5678, 1)
    assert record.meta["dbname"] == "COCO2014-All"


def test_pose_and_betas_pass_through_unchanged(fit_file: Path, tmp_path: Path) -> None:
    record = load_eft(fit_file, tmp_path)[0]

    np.testing.assert_array_equal(record.pose, np.tile(np.eye(3), (24, 1, 1)))
    np.testing.assert_array_equal(record.betas, np.zeros(10))
    assert record.gender == "neutral"
    assert record.valid


def test_keypoints_are_the_annotated_spin_joints_in_coco17_order(tmp_path: Path) -> None:
    spin = np.zeros((49, 3))
    spin[:25] = [999.0, 999.0, 1.0]  # OpenPose detections must not leak into the output
    for row in range(len(SPIN_GT_NAMES)):
        spin[25 + row] = [10.0 * row, 20.0 * row + 1.0, 1.0]
    path = write_eft_json(tmp_path / "MPII_ver01.json", [eft_entry(keypoints=spin)])

    record = load_eft(path, tmp_path)[0]

    assert record.keypoint_names == COCO17_NAMES
    for name, point in zip(COCO17_NAMES, record.keypoints, strict=True):
        np.testing.assert_array_equal(point, spin[25 + SPIN_GT_NAMES.index(name)])


def test_mapping_table_points_at_the_same_named_spin_joint() -> None:
    assert list(SPIN49_TO_COCO17) == list(COCO17_NAMES)
    for name, row in SPIN49_TO_COCO17.items():
        assert SPIN49_NAMES[row] == f"gt_{name}"
        assert SPIN_GT_NAMES[row - 25] == name


def test_camera_convention_reproduces_eft_weak_perspective(tmp_path: Path) -> None:
    s, tx, ty, center, scale = 0.8, 0.12, -0.3, (400.0, 300.0), 2.5
    path = write_eft_json(tmp_path / "LSPet_ver01.json",
                          [eft_entry(cam=(s, tx, ty), center=center, scale=scale)])
    record = load_eft(path, tmp_path)[0]
    # Body points at depth 0, where EFT's orthographic model and the pinhole agree exactly.
    body = np.array([[0.0, 0.0, 0.0], [0.3, -0.8, 0.0], [-0.5, 0.6, 0.0]])
    # EFT: normalised crop coords s*X + t, crop pixels 112*(x+1), crop of 200*scale px.
    crop = 112.0 * (s * body[:, :2] + [tx, ty] + 1.0)
    expected = np.array(center) + (crop - 112.0) * (200.0 * scale / 224.0)

    camera = body + record.smpl_transl
    projected = camera @ record.K.T
    pixels = projected[:, :2] / projected[:, 2:]

    assert not record.intrinsics_known
    np.testing.assert_allclose(pixels, expected, atol=1e-9)


def test_focal_length_is_5000_px_at_224_px_scaled_to_the_box(tmp_path: Path) -> None:
    path = write_eft_json(tmp_path / "fits.json", [eft_entry(center=(10.0, 20.0), scale=1.12)])

    K = load_eft(path, tmp_path)[0].K

    np.testing.assert_allclose(K, [[5000.0, 0.0, 10.0], [0.0, 5000.0, 20.0], [0.0, 0.0, 1.0]])


def test_pelvis_translation_needs_the_rest_pelvis(fit_file: Path, tmp_path: Path) -> None:
    record = load_eft(fit_file, tmp_path)[0]
    rest_pelvis = np.array([0.0, -0.22, 0.03])

    assert record.translation is None and record.joints_cam is None
    filled = record.with_rest_pelvis(rest_pelvis)
    np.testing.assert_allclose(filled.translation, record.smpl_transl + rest_pelvis)


def test_box_surrounds_annotated_keypoints(fit_file: Path, tmp_path: Path) -> None:
    record = load_eft(fit_file, tmp_path, box_margin=0.0)[0]
    xy = record.keypoints[:, :2]

    np.testing.assert_allclose(record.box, [*xy.min(0), *xy.max(0)])


def test_box_falls_back_to_the_eft_crop_without_keypoints(tmp_path: Path) -> None:
    path = write_eft_json(tmp_path / "fits.json",
                          [eft_entry(center=(100.0, 50.0), scale=0.5, keypoints=np.zeros((49, 3)))])

    record = load_eft(path, tmp_path)[0]

    np.testing.assert_allclose(record.box, [50.0, 0.0, 150.0, 100.0])


def test_missing_file_is_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.json"):
        load_eft(tmp_path / "nothing.json", tmp_path)


def test_file_that_is_not_json_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")

    with pytest.raises(DatasetFormatError, match=r"not valid JSON"):
        load_eft(path, tmp_path)


def test_file_without_data_list_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "fits.json"
    path.write_text('{"ver": 0.1}')

    with pytest.raises(ValueError, match=r"missing key 'data'"):
        load_eft(path, tmp_path)


def test_entry_missing_a_key_names_the_key_and_the_entry(tmp_path: Path) -> None:
    broken = eft_entry()
    del broken["parm_cam"]
    path = write_eft_json(tmp_path / "fits.json", [eft_entry(), broken])

    with pytest.raises(ValueError, match=r"data\[1\]: missing key 'parm_cam'"):
        load_eft(path, tmp_path)


def test_wrongly_shaped_pose_is_refused(tmp_path: Path) -> None:
    broken = eft_entry()
    broken["parm_pose"] = broken["parm_pose"][:23]
    path = write_eft_json(tmp_path / "fits.json", [broken])

    with pytest.raises(ValueError, match=r"'parm_pose' has shape \(23, 3, 3\)"):
        load_eft(path, tmp_path)


def test_matrices_that_are_not_rotations_are_refused(tmp_path: Path) -> None:
    broken = eft_entry()
    broken["parm_pose"][5] = (2.0 * np.eye(3)).tolist()
    path = write_eft_json(tmp_path / "fits.json", [broken])

    with pytest.raises(ValueError, match=r"data\[0\]: 'parm_pose'\[5\] is not a rotation"):
        load_eft(path, tmp_path)


def test_non_positive_camera_scale_is_refused(tmp_path: Path) -> None:
    path = write_eft_json(tmp_path / "fits.json", [eft_entry(cam=(0.0, 0.0, 0.0))])

    with pytest.raises(ValueError, match=r"parm_cam\[0\] \(scale\) is 0\.0"):
        load_eft(path, tmp_path)


def test_smplx_fits_are_refused(tmp_path: Path) -> None:
    entry = eft_entry()
    entry["smpltype"] = "smplx"
    path = write_eft_json(tmp_path / "fits.json", [entry])

    with pytest.raises(ValueError, match=r"smpltype 'smplx'"):
        load_eft(path, tmp_path)
