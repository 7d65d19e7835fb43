"""The shared rosbags type store: standard ROS 2 types plus nbf_ros's messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nbf_ros.io.typestore import build_typestore, find_msg_dir, nbf_typestore


def test_knows_nbf_messages_and_standard_ones() -> None:
    types = nbf_typestore().types
    for name in ("nbf_ros/msg/HumanPose", "nbf_ros/msg/HumanPoseArray",
                 "sensor_msgs/msg/Image", "visualization_msgs/msg/MarkerArray"):
        assert name in types


def test_human_pose_keeps_the_joint_state_constants() -> None:
    pose = nbf_typestore().types["nbf_ros/msg/HumanPose"]
    assert (pose.JOINT_VISIBLE, pose.JOINT_OCCLUDED) == (0, 1)
    assert (pose.JOINT_OUTSIDE_IMAGE, pose.JOINT_UNKNOWN) == (2, 255)


def test_is_built_once() -> None:
    assert nbf_typestore() is nbf_typestore()


def test_definitions_come_from_the_source_tree(repo_root: Path) -> None:
    assert find_msg_dir() == repo_root / "msg"


def test_folder_without_msg_files_is_a_clear_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="HumanPose.msg"):
        build_typestore(tmp_path)


def test_folder_with_only_some_msg_files_names_the_missing_one(
    tmp_path: Path, repo_root: Path
) -> None:
    shutil.copy(repo_root / "msg" / "HumanPose.msg", tmp_path)
    with pytest.raises(FileNotFoundError, match="HumanPoseArray.msg"):
        build_typestore(tmp_path)


@pytest.mark.parametrize("name", ["HumanPose", "HumanPoseArray"])
def test_type_hash_matches_the_one_rosidl_generates(repo_root: Path, name: str) -> None:
    # ROS 2 tools compare a bag's RIHS01 hash with their own: a mismatch makes them refuse it.
    generated = repo_root / ".ros_install" / "share" / "nbf_ros" / "msg" / f"{name}.json"
    if not generated.is_file():
        pytest.skip(f"{generated} not built (scripts/setup_env.sh builds it)")
    hashes = {entry["type_name"]: entry["hash_string"]
              for entry in json.loads(generated.read_text())["type_hashes"]}
    typename = f"nbf_ros/msg/{name}"
    assert nbf_typestore().hash_rihs01(typename) == hashes[typename]
