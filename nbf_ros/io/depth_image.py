"""Depth images (sensor_msgs/Image) <-> float32 depth maps in metres, from plain message
fields so that the rclpy node and the bag tools share one decoder.

Convention (REP 117 and the RealSense / ZED / Orbbec / Azure Kinect drivers):

* ``16UC1``: unsigned millimetres, 0 = no return;
* ``32FC1``: float metres, NaN = no return, +-inf = out of range, 0 also read as no return.

A decoded map holds metres along the optical axis (the camera z, not the ray length) with
0.0 wherever the sensor gave nothing usable (no return, out of range, negative, not
finite), so that code downstream tests one thing: ``depth > 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DEPTH_ENCODINGS", "DEPTH_INFO_TOPIC", "DEPTH_TOPIC", "DepthError", "check_depth",
           "decode_depth", "depth_message", "encode_depth", "resample_depth", "write_depth"]

# Where a RealSense driver publishes depth registered to the colour image (bags use these).
DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
DEPTH_INFO_TOPIC = "/camera/aligned_depth_to_color/camera_info"

DEPTH_ENCODINGS = ("16UC1", "32FC1")  # also "mono16", which drivers use for 16UC1 at times
_BYTES = {"16UC1": 2, "mono16": 2, "32FC1": 4}
# Less than this share of pixels with a return is a depth frame with nothing to fit to (a
# covered lens, a stopped projector, a driver that sends zeros).
MIN_VALID_FRACTION = 0.01
MAX_DEPTH_M = 65.535  # the largest 16UC1 value


class DepthError(ValueError):
    """A depth image that cannot serve as evidence for this frame (the message says why)."""


def decode_depth(height: int, width: int, encoding: str, step: int, data: Any,
                 is_bigendian: int = 0, max_pixels: int = 20_000_000) -> np.ndarray:
    """A new float32 depth map [H, W] in metres (0 = no return) from sensor_msgs/Image
    fields; DepthError names what is wrong."""
    height, width, step = int(height), int(width), int(step)
    if encoding not in _BYTES:
        raise DepthError(f"unsupported depth encoding {encoding!r}; supported: "
                         f"{', '.join(DEPTH_ENCODINGS)} (16UC1 millimetres or 32FC1 metres)")
    if height <= 0 or width <= 0 or height * width > max_pixels:
        raise DepthError(f"depth image of {width} x {height} pixels is empty or larger than "
                         f"{max_pixels} pixels")
    size = _BYTES[encoding]
    if step < width * size:
        raise DepthError(f"depth step {step} is smaller than width x {size} bytes "
                         f"({width * size})")
    raw = (np.ascontiguousarray(data).reshape(-1).view(np.uint8)
           if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8))
    if raw.size != step * height:
        raise DepthError(f"depth data has {raw.size} bytes, expected step x height = "
                         f"{step} x {height} = {step * height}")
    rows = raw.reshape(height, step)[:, : width * size]
    order = ">" if is_bigendian else "<"
    if size == 2:
        mm = rows.copy().view(f"{order}u2").reshape(height, width)
        return (mm.astype(np.float32) * np.float32(1e-3))
    metres = rows.copy().view(f"{order}f4").reshape(height, width).astype(np.float32)
    # Not finite (no return, out of range) and not positive both mean: no measurement.
    with np.errstate(invalid="ignore"):
        good = np.isfinite(metres) & (metres > 0)
    return np.where(good, metres, np.float32(0.0))


def check_depth(depth: np.ndarray, height: int, width: int) -> np.ndarray:
    """``depth`` [H, W] metres if it can serve a colour frame of height x width (registered
    to it); else DepthError: another size, or almost no returns."""
    if depth.shape != (height, width):
        raise DepthError(f"depth image is {depth.shape[1]} x {depth.shape[0]} but the colour "
                         f"image is {width} x {height}; the depth must be registered to the "
                         "colour camera (e.g. aligned_depth_to_color), or give "
                         "depth/camera_info with depth_registered false")
    valid = float((depth > 0).mean())
    if valid < MIN_VALID_FRACTION:
        raise DepthError(f"depth image has returns on {valid:.1%} of its pixels (all zero, "
                         f"NaN or inf): nothing to measure")
    return depth


def resample_depth(depth: np.ndarray, K_depth: np.ndarray, K_colour: np.ndarray,
                   height: int, width: int) -> np.ndarray:
    """A depth map [H_d, W_d] of a camera at the colour camera's optical centre (intrinsics
    K_depth) seen on the colour image's height x width grid (intrinsics K_colour), nearest
    pixel: never an average across a depth edge."""
    u = (np.arange(width) + 0.5 - K_colour[0, 2]) / K_colour[0, 0]
    v = (np.arange(height) + 0.5 - K_colour[1, 2]) / K_colour[1, 1]
    du = np.floor(u * K_depth[0, 0] + K_depth[0, 2]).astype(np.int64)
    dv = np.floor(v * K_depth[1, 1] + K_depth[1, 2]).astype(np.int64)
    inside_u = (du >= 0) & (du < depth.shape[1])
    inside_v = (dv >= 0) & (dv < depth.shape[0])
    out = depth[np.clip(dv, 0, depth.shape[0] - 1)][:, np.clip(du, 0, depth.shape[1] - 1)]
    return np.where(inside_v[:, None] & inside_u[None, :], out, np.float32(0.0))


def encode_depth(depth: np.ndarray, encoding: str = "16UC1") -> tuple[int, int, str, int,
                                                                       bytes]:
    """(height, width, encoding, step, data) of a depth map [H, W] metres, 0 = no return."""
    depth = np.asarray(depth, dtype=np.float32)
    height, width = depth.shape
    if encoding == "16UC1":
        mm = np.where(depth > 0, np.round(np.clip(depth, 0, MAX_DEPTH_M) * 1000), 0)
        return height, width, encoding, 2 * width, mm.astype("<u2").tobytes()
    if encoding == "32FC1":
        metres = np.where(depth > 0, depth, np.float32(np.nan)).astype("<f4")
        return height, width, encoding, 4 * width, metres.tobytes()
    raise ValueError(f"cannot encode depth as {encoding!r}; use one of {DEPTH_ENCODINGS}")


def depth_message(depth: np.ndarray, stamp_ns: int, frame_id: str,
                  encoding: str = "16UC1") -> Any:
    """A sensor_msgs/Image (rosbags type store, for bags) holding a depth map [H, W] m."""
    from nbf_ros.io.convert import IMAGE, _types, header_message

    height, width, encoding, step, data = encode_depth(depth, encoding)
    return _types()[IMAGE](header=header_message(stamp_ns, frame_id), height=height,
                           width=width, encoding=encoding, is_bigendian=0, step=step,
                           data=np.frombuffer(data, dtype=np.uint8))


def write_depth(bag: Any, stamp_ns: int, depth: np.ndarray, K: np.ndarray,
                frame_id: str = "camera_optical_frame", encoding: str = "16UC1") -> None:
    """A registered depth map [H, W] m and its CameraInfo (the colour camera's K) into an
    open nbf_ros.io.bag_writer.BagWriter, on the RealSense driver's aligned-depth topics."""
    from nbf_ros.io.convert import CAMERA_INFO, IMAGE, camera_info_message

    height, width = depth.shape
    bag.write(DEPTH_INFO_TOPIC, CAMERA_INFO,
              camera_info_message(K, width, height, stamp_ns, frame_id), stamp_ns)
    bag.write(DEPTH_TOPIC, IMAGE, depth_message(depth, stamp_ns, frame_id, encoding), stamp_ns)
