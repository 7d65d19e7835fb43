"""3DPW loader: stand-in sequence files in the published layout, read back as camera-frame
annotations."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nbf_ros.train.datasets import OPENPOSE18_NAMES, DatasetFormatError, load_3dpw
from tests.train.standins import (
    ThreeDPWTruth,
    make_3dpw_sequence,
    posed_joints,
    write_3dpw_sequence,
    write_python2_pickle,
)


@pytest.fixture()
def dataset_root(tmp_path: Path) -> Path:
    """A 3DPW root with two test sequences (2 actors x 3 frames, 1 actor x 2 frames)."""
    write_3dpw_sequence(tmp_path, "test", "outdoors_walk_00", actors=2, frames=3, seed=1)
    write_3dpw_sequence(tmp_path, "test", "downtown_bus_00", actors=1, frames=2, seed=2)
    return tmp_path


@pytest.fixture()
def truth(tmp_path: Path) -> ThreeDPWTruth:
    """The known state of the single sequence written to ``tmp_path``."""
    return write_3dpw_sequence(tmp_path, "validation", "courtyard_hug_00", actors=2, frames=3)


def test_one_record_per_actor_and_frame_in_file_name_order(dataset_root: Path) -> None:
    data = load_3dpw(dataset_root, "test")

    assert len(data) == 2 * 3 + 1 * 2
    assert data.sequences == ("downtown_bus_00", "outdoors_walk_00")
    keys = [(r.sequence, r.person_id, r.frame_index) for r in data]
    assert keys[:3] == [("downtown_bus_00", 0, 0), ("downtown_bus_00", 0, 1),
                        ("outdoors_walk_00", 0, 0)]


def test_image_path_follows_the_imagefiles_layout(tmp_path: Path, truth: ThreeDPWTruth) -> None:
    record = load_3dpw(tmp_path, "validation")[2]

    assert record.frame_index == 2
    assert record.image_path == tmp_path / "imageFiles" / "courtyard_hug_00" / "image_00002.jpg"
    assert record.dataset == "3dpw"


def test_camera_frame_joints_are_world_joints_moved_by_cam_pose(
    tmp_path: Path, truth: ThreeDPWTruth
) -> None:
    data = load_3dpw(tmp_path, "validation")

    for record in data:
        a, f = record.person_id, record.frame_index
        expected = truth.world_joints[a, f] @ truth.cam_rot[f].T + truth.cam_t[f]
        np.testing.assert_allclose(record.joints_cam, expected, atol=1e-12)


def test_root_rotation_is_camera_rotation_times_world_root(
    tmp_path: Path, truth: ThreeDPWTruth
) -> None:
    record = load_3dpw(tmp_path, "validation")[4]  # actor 1, frame 1
    local = Rotation.from_rotvec(truth.rotvecs[1, 1]).as_matrix()

    np.testing.assert_allclose(record.pose[0], truth.cam_rot[1] @ local[0], atol=1e-12)
    np.testing.assert_allclose(record.pose[1:], local[1:], atol=1e-12)


def test_translation_is_the_camera_frame_pelvis(tmp_path: Path, truth: ThreeDPWTruth) -> None:
    record = load_3dpw(tmp_path, "validation")[0]

    assert record.smpl_transl is None  # needs the rest pelvis of the actor's betas
    np.testing.assert_allclose(record.translation, record.joints_cam[0])


def test_smpl_transl_from_rest_pelvis_poses_the_body_in_the_camera(
    tmp_path: Path, truth: ThreeDPWTruth
) -> None:
    for record in load_3dpw(tmp_path, "validation"):
        filled = record.with_rest_pelvis(truth.rest_joints[0])
        reposed = posed_joints(truth.rest_joints, record.pose, filled.smpl_transl)
        np.testing.assert_allclose(reposed, record.joints_cam, atol=1e-9)


def test_intrinsics_betas_and_gender_come_from_the_file(
    tmp_path: Path, truth: ThreeDPWTruth
) -> None:
    data = load_3dpw(tmp_path, "validation")
    first, second = data[0], data[3]

    np.testing.assert_array_equal(first.K, truth.K)
    assert first.intrinsics_known
    np.testing.assert_array_equal(second.betas, truth.betas[1])
    assert (first.gender, second.gender) == ("male", "female")


def test_keypoints_are_poses2d_transposed_in_openpose18_order(
    tmp_path: Path, truth: ThreeDPWTruth
) -> None:
    record = load_3dpw(tmp_path, "validation")[5]  # actor 1, frame 2

    assert record.keypoint_names == OPENPOSE18_NAMES
    np.testing.assert_array_equal(record.keypoints, truth.poses2d[1, 2].T)


def test_box_surrounds_confident_keypoints_with_a_margin(
    tmp_path: Path, truth: ThreeDPWTruth
) -> None:
    data = load_3dpw(tmp_path, "validation", min_confidence=0.5, box_margin=0.1)
    record = data[2]
    points = truth.poses2d[0, 2].T
    kept = points[points[:, 2] > 0.5, :2]
    pad = 0.1 * (kept.max(0) - kept.min(0)).max()

    np.testing.assert_allclose(record.box, [*(kept.min(0) - pad), *(kept.max(0) + pad)])


def test_frame_without_detections_is_boxed_around_its_projected_joints(
    tmp_path: Path, truth: ThreeDPWTruth
) -> None:
    record = load_3dpw(tmp_path, "validation", box_margin=0.0)[1]  # actor 0, frame 1
    projected = record.joints_cam @ truth.K.T
    pixels = projected[:, :2] / projected[:, 2:]

    assert (record.keypoints == 0).all()
    np.testing.assert_allclose(record.box, [*pixels.min(0), *pixels.max(0)])


def test_valid_is_campose_valid_and_only_valid_drops_the_rest(
    tmp_path: Path, truth: ThreeDPWTruth
) -> None:
    every = load_3dpw(tmp_path, "validation")
    kept = load_3dpw(tmp_path, "validation", only_valid=True)

    assert [r.valid for r in every] == truth.valid.reshape(-1).tolist()
    assert len(kept) == int(truth.valid.sum())
    assert all(r.valid for r in kept)


def test_negative_indices_count_from_the_end_and_others_raise(dataset_root: Path) -> None:
    data = load_3dpw(dataset_root)

    assert data[-1].frame_index == data[len(data) - 1].frame_index
    with pytest.raises(IndexError):
        data[len(data)]


def test_python2_pickles_load_without_numpy_warnings(tmp_path: Path) -> None:
    write_3dpw_sequence(tmp_path, "train", "courtyard_rangeOfMotions_00")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy 2 warns when numpy.core is imported
        data = load_3dpw(tmp_path, "train")

    assert data.sequences == ("courtyard_rangeOfMotions_00",)


def test_gender_key_spelled_as_in_the_readme_is_accepted(tmp_path: Path) -> None:
    data, _ = make_3dpw_sequence("flat_guitar_01", actors=1)
    data["gender"] = data.pop("genders")
    write_python2_pickle(tmp_path / "sequenceFiles" / "test" / "flat_guitar_01.pkl", data)

    assert load_3dpw(tmp_path)[0].gender == "male"


class _RunsCode:
    """An object whose unpickling would call print: what a malicious file would do."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return print, ("unpickling ran code",)


def test_pickle_naming_any_other_global_is_refused_before_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = make_3dpw_sequence("courtyard_bad_00", actors=1)
    data["texture_maps"] = [_RunsCode()]
    path = tmp_path / "sequenceFiles" / "test" / "courtyard_bad_00.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps(data, protocol=4))

    with pytest.raises(DatasetFormatError, match=r"refusing to unpickle builtins\.print"):
        load_3dpw(tmp_path)
    assert "ran code" not in capsys.readouterr().out


def test_missing_split_folder_names_the_expected_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"sequenceFiles/test"):
        load_3dpw(tmp_path, "test")


def test_split_folder_without_pickles_is_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "sequenceFiles" / "test").mkdir(parents=True)

    with pytest.raises(FileNotFoundError, match=r"no sequence files"):
        load_3dpw(tmp_path, "test")


def test_unknown_split_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"split"):
        load_3dpw(tmp_path, "val")


def test_missing_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    data, _ = make_3dpw_sequence("office_phoneCall_00")
    del data["cam_poses"]
    write_python2_pickle(tmp_path / "sequenceFiles" / "test" / "office_phoneCall_00.pkl", data)

    with pytest.raises(ValueError, match=r"office_phoneCall_00\.pkl: missing key 'cam_poses'"):
        load_3dpw(tmp_path)


def test_wrongly_shaped_array_names_the_key(tmp_path: Path) -> None:
    data, _ = make_3dpw_sequence("downtown_runForBus_00")
    data["poses"][1] = data["poses"][1][:, :69]
    write_python2_pickle(tmp_path / "sequenceFiles" / "test" / "downtown_runForBus_00.pkl", data)

    with pytest.raises(ValueError, match=r"'poses\[1\]' has shape \(3, 69\), expected \(3, 72\)"):
        load_3dpw(tmp_path)


def test_actor_lists_of_different_lengths_are_refused(tmp_path: Path) -> None:
    data, _ = make_3dpw_sequence("downtown_stairs_00")
    data["genders"] = ["m"]
    write_python2_pickle(tmp_path / "sequenceFiles" / "test" / "downtown_stairs_00.pkl", data)

    with pytest.raises(ValueError, match=r"'genders' must hold one entry per actor"):
        load_3dpw(tmp_path)



def test_python3_protocol2_pickle_is_refused_with_a_resave_hint(tmp_path: Path) -> None:
    data, _ = make_3dpw_sequence("outdoors_climbing_00", actors=1)
    path = tmp_path / "sequenceFiles" / "test" / "outdoors_climbing_00.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps(data, protocol=2))  # numpy's bytes go through _codecs.encode

    with pytest.raises(DatasetFormatError, match=r"_codecs\.encode.*re-save .* protocol 4"):
        load_3dpw(tmp_path)
