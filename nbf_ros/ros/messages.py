"""rclpy messages of the pose node's outputs, built from HumanEstimates and numpy images."""

from __future__ import annotations

import array
from collections.abc import Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Header

from nbf_ros.estimate import HumanEstimate
from nbf_ros.io.convert import pose_messages
from nbf_ros.msg import HumanPose, HumanPoseArray

__all__ = ["RCLPY_TYPES", "human_pose_array", "rgb_image"]

# Full type name -> rclpy class, for the message builders shared with the rosbags side.
RCLPY_TYPES: dict[str, Any] = {
    "geometry_msgs/msg/Point": Point, "geometry_msgs/msg/Pose": Pose,
    "geometry_msgs/msg/Quaternion": Quaternion,
    "sensor_msgs/msg/RegionOfInterest": RegionOfInterest,
    "nbf_ros/msg/HumanPose": HumanPose,
}
_TYPECODES = {"float32": "f", "uint8": "B"}


def _pack(values: Any, dtype: str) -> array.array:
    """Numeric message array as rclpy takes it without a per-element check: array.array."""
    return array.array(_TYPECODES[dtype], np.asarray(values, dtype=dtype).tobytes())


def human_pose_array(estimates: Sequence[HumanEstimate], header: Header,
                     processing_time: float) -> HumanPoseArray:
    """HumanPoseArray of the estimates, every pose stamped with ``header``."""
    return HumanPoseArray(
        header=header, humans=pose_messages(estimates, header, RCLPY_TYPES, _pack),
        processing_time=float(processing_time))


def rgb_image(rgb: np.ndarray, header: Header) -> Image:
    """sensor_msgs/Image (rgb8) of an RGB uint8 array [H, W, 3]."""
    h, w, _ = rgb.shape
    return Image(header=header, height=h, width=w, encoding="rgb8", is_bigendian=0,
                 step=3 * w, data=np.ascontiguousarray(rgb).tobytes())
