"""A live depth stream beside the colour stream: depth messages by stamp, the depth camera's
intrinsics, and for each colour frame either its depth map or why there is none.

Works on message fields alone (rclpy's or rosbags' sensor_msgs/Image and CameraInfo), so
the node and offline tools share it. Decoding happens for the frame that uses a message,
on the worker's thread, not in the subscriber's callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nbf_ros.io.convert import CameraInfoError, intrinsics_from_camera_info
from nbf_ros.io.depth_image import DepthError, check_depth, decode_depth, resample_depth
from nbf_ros.stream.pairing import Missing, StampBuffer

__all__ = ["DepthFrame", "DepthStream"]


@dataclass
class DepthFrame:
    """A colour frame's depth map [H, W] metres (None: serve colour alone) and, when there
    is none, the reason (a short key) and a one-line explanation."""

    depth: np.ndarray | None
    reason: str | None = None
    message: str | None = None
    offset_ns: int = 0  # depth stamp minus colour stamp, when paired


def _stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


class DepthStream:
    """Depth messages waiting for their colour frames (thread-safe)."""

    def __init__(self, slop_s: float, timeout_s: float, registered: bool = True,
                 max_pixels: int = 20_000_000) -> None:
        self.slop_ns = int(round(slop_s * 1e9))
        self.timeout_s = timeout_s
        self.registered = registered
        self.max_pixels = max_pixels
        self.buffer: StampBuffer[Any] = StampBuffer("depth", capacity=8)
        self.info: tuple[np.ndarray, int, int] | None = None  # K, width, height of the depth
        self.info_problem = "no depth/camera_info received yet"
        self.paired = 0  # colour frames served with depth

    def put(self, msg: Any) -> None:
        """Keep a depth image until a colour frame asks for it."""
        self.buffer.put(_stamp_ns(msg), msg)

    def put_info(self, msg: Any) -> None:
        """Keep the depth camera's intrinsics (used when the depth is not registered)."""
        try:
            self.info = intrinsics_from_camera_info(msg)
        except CameraInfoError as exc:
            self.info, self.info_problem = None, f"invalid depth/camera_info: {exc}"

    def for_frame(self, stamp_ns: int, height: int, width: int, K: np.ndarray) -> DepthFrame:
        """The depth of the colour frame stamped ``stamp_ns`` (height x width, intrinsics K),
        waiting up to the slop for a depth that may still be on its way."""
        got = self.buffer.match(stamp_ns, self.slop_ns, wait_s=self.slop_ns / 1e9,
                                stopped_after_s=self.timeout_s)
        if isinstance(got, Missing):
            return DepthFrame(None, got.reason, got.message)
        msg = got.item
        try:
            depth = decode_depth(msg.height, msg.width, msg.encoding, msg.step, msg.data,
                                 msg.is_bigendian, self.max_pixels)
            if not self.registered:
                if self.info is None:
                    return DepthFrame(None, "depth camera_info", self.info_problem)
                K_depth, w, h = self.info
                if (w, h) != (depth.shape[1], depth.shape[0]):
                    raise DepthError(f"depth/camera_info is for {w} x {h} images, the depth "
                                     f"image is {depth.shape[1]} x {depth.shape[0]}")
                depth = resample_depth(depth, K_depth, K, height, width)
            check_depth(depth, height, width)
        except DepthError as exc:
            return DepthFrame(None, "bad depth", str(exc))
        self.paired += 1
        return DepthFrame(depth, offset_ns=got.offset_ns)
