"""The rosbags type store that knows the standard ROS 2 messages and nbf_ros's own."""

from __future__ import annotations

import functools
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from nbf_ros.paths import PACKAGE_NAME, share_dir, source_root

__all__ = ["MESSAGE_NAMES", "ROS_STORE", "build_typestore", "find_msg_dir", "nbf_typestore"]

# The `ros` extra installs ROS 2 Kilted wheels: the standard definitions (and so the RIHS01
# hashes written into bags) must be that distribution's, or ROS tools reject the bag's types.
ROS_STORE = Stores.ROS2_KILTED

# HumanPoseArray refers to HumanPose, so HumanPose is parsed first.
MESSAGE_NAMES = ("HumanPose", "HumanPoseArray")


def _candidate_msg_dirs() -> list[Path]:
    """msg/ of the source tree, then share/nbf_ros/msg of a ROS install."""
    roots = (source_root(), share_dir())
    return [root / "msg" for root in roots if root is not None]


def find_msg_dir() -> Path:
    """First folder holding every nbf_ros .msg file: source tree first, then a ROS install."""
    searched = _candidate_msg_dirs()
    for folder in searched:
        if all((folder / f"{name}.msg").is_file() for name in MESSAGE_NAMES):
            return folder
    where = ", ".join(str(folder) for folder in searched) or "no source tree or ROS install found"
    names = ", ".join(f"{name}.msg" for name in MESSAGE_NAMES)
    raise FileNotFoundError(f"nbf_ros message definitions ({names}) not found (searched: {where})")


def build_typestore(msg_dir: Path) -> Typestore:
    """A fresh Kilted type store with nbf_ros/msg/* registered from the .msg files in msg_dir."""
    store = get_typestore(ROS_STORE)
    for name in MESSAGE_NAMES:
        path = Path(msg_dir) / f"{name}.msg"
        if not path.is_file():
            raise FileNotFoundError(f"nbf_ros message definition {path} does not exist")
        store.register(get_types_from_msg(path.read_text(), f"{PACKAGE_NAME}/msg/{name}"))
    return store


@functools.cache
def nbf_typestore() -> Typestore:
    """The shared type store of nbf_ros (built once); register nothing else into it."""
    return build_typestore(find_msg_dir())
