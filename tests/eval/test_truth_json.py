"""Ground truth from a JSON sidecar: the documented format, its errors, and evaluation with it
matching evaluation with the same truth recorded in the bag."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nbf_ros.body.joints import SMPL24_NAMES
from nbf_ros.eval.truth_json import TruthFileError, load_truth_json


def person_json(z: float = 3.0, **extra) -> dict:  # noqa: ANN003
    joints = np.stack([np.linspace(-0.2, 0.2, 24), np.linspace(-0.8, 0.8, 24),
                       np.full(24, z)], 1)
    return {"track_id": 2, "joints": joints.tolist(), **extra}


def write(path: Path, frames: list, names: list[str] | None = None) -> Path:
    data = {"frames": frames}
    if names is not None:
        data["joint_names"] = names
    path.write_text(json.dumps(data))
    return path


K = np.array([[200.0, 0, 100], [0, 200, 100], [0, 0, 1]])


def test_joints_without_pixels_are_projected_and_boxed(tmp_path: Path) -> None:
    truth = load_truth_json(write(tmp_path / "t.json", [{"stamp_ns": 5,
                                                        "people": [person_json()]}]), K)
    (person,) = truth[5]
    assert person.track_id == 2
    assert person.keypoints_2d[0] == pytest.approx([100 + 200 * -0.2 / 3, 100 - 200 * 0.8 / 3])
    assert person.roi == pytest.approx([*person.keypoints_2d.min(0), *person.keypoints_2d.max(0)])
    assert (person.joint_state == 255).all()  # unknown: no visibility truth


def test_given_pixels_states_and_box_are_kept(tmp_path: Path) -> None:
    extra = {"keypoints_2d": [[1.0, 2.0]] * 24, "joint_state": [0] * 23 + [1],
             "box": [0, 0, 10, 20]}
    truth = load_truth_json(write(tmp_path / "t.json", [{"stamp_ns": 1, "people": [
        person_json(**extra)]}]))
    person = truth[1][0]
    assert person.keypoints_2d[5].tolist() == [1.0, 2.0] and person.joint_state[-1] == 1
    assert person.roi.tolist() == [0, 0, 10, 20]


@pytest.mark.parametrize(("frames", "names", "says"), [
    ([{"stamp_ns": 1, "people": [person_json()]}], ["a"] * 24, "SMPL-24 names"),
    ([{"stamp_ns": "1"}], None, "integer 'stamp_ns'"),
    ([{"stamp_ns": 1, "people": [{"joints": [[0, 0, 1]]}]}], None, "'joints' must be 24"),
    ([{"stamp_ns": 1, "people": [person_json(z=-1.0)]}], None, "behind the camera"),
    ([{"stamp_ns": 1, "people": [person_json(joint_state=[7] * 24)]}], None, "joint_state"),
])
def test_format_errors_name_the_frame_and_the_problem(tmp_path: Path, frames: list,
                                                     names: list | None, says: str) -> None:
    with pytest.raises(TruthFileError, match=says):
        load_truth_json(write(tmp_path / "t.json", frames, names), K)


def test_unreadable_file_is_a_truth_file_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TruthFileError, match="cannot read"):
        load_truth_json(tmp_path / "bad.json")
    assert SMPL24_NAMES[0] == "pelvis"


@pytest.mark.timeout(300)
def test_eval_with_the_sidecar_equals_eval_with_the_truth_topic(tmp_path: Path) -> None:
    from nbf_ros.io.bag_reader import read_messages
    from nbf_ros.io.convert import estimates_from_message, stamp_to_ns
    from nbf_ros.synth.mesh import BodyMesh
    from nbf_ros.synth.sequences import SequenceConfig, write_sequence_bag

    seq = SequenceConfig(frames=3, fps=10.0)
    seq = replace(seq, scene=replace(seq.scene, height=240, width=320, extra_people=0))
    bag = tmp_path / "walk"
    write_sequence_bag(bag, BodyMesh.default(), 5, seq, progress=False)
    frames = []
    for _, msg in read_messages(bag, "/ground_truth/humans"):
        people = [{"track_id": p.track_id, "joints": p.joints.tolist(),
                   "keypoints_2d": p.keypoints_2d.tolist(),
                   "joint_state": p.joint_state.astype(int).tolist(), "box": p.roi.tolist()}
                  for p in estimates_from_message(msg)]
        frames.append({"stamp_ns": stamp_to_ns(msg.header.stamp), "people": people})
    sidecar = write(tmp_path / "truth.json", frames)
    results = []
    for name, extra in (("topic", []), ("json", ["--truth-json", str(sidecar)])):
        command = [sys.executable, "-m", "nbf_ros.cli", "eval", "--quiet", str(bag), "--out",
                   str(tmp_path / name), "--param", "fit_iterations=4", "--param",
                   "tracking_iterations=2", *extra]
        done = subprocess.run(command, capture_output=True, text=True, timeout=280)
        assert done.returncode == 0, done.stderr
        results.append(json.loads((tmp_path / name / "metrics.json").read_text())["all"])
    for key in ("mpjpe_mm", "matched_people", "visibility_auc", "pck3d_150mm"):
        assert results[0][key] == results[1][key], key
