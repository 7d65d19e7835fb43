"""A bag evaluated offline: every frame through the pipeline in order, deterministically,
without DDS; a results bag with the input image, the poses, an overlay and the markers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from nbf_ros.eval.frame_eval import FrameRecord
from nbf_ros.io.bag_reader import FrameReader
from nbf_ros.io.bag_writer import BagWriter
from nbf_ros.io.convert import IMAGE, human_pose_array_message, image_message
from nbf_ros.node_settings import build_pipeline
from nbf_ros.overlay import draw_estimates
from nbf_ros.progress import tqdm

__all__ = ["run_offline"]

POSES_TOPIC = "/humans/poses"
MARKERS_TOPIC = "/humans/markers"
OVERLAY_TOPIC = "/humans/debug_image"


def _marker_bytes(estimates: list, stamp_ns: int, frame_id: str, lifetime: float
                  ) -> bytes | None:
    """A MarkerArray of the estimates as CDR bytes, built by the node's own marker code;
    None where rclpy is not installed (the results bag then has no markers)."""
    try:
        from rclpy.serialization import serialize_message
        from std_msgs.msg import Header

        from nbf_ros.ros.markers import human_markers
    except ImportError:
        return None
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return serialize_message(human_markers(estimates, header, lifetime))


def run_offline(bag: Path, settings: dict[str, Any], results: Path | None,
                image_topic: str, camera_info_topic: str, truth_topic: str | None,
                max_frames: int | None = None, progress: bool = True
                ) -> tuple[list[FrameRecord], dict[str, int]]:
    """One FrameRecord per usable frame of ``bag`` (and the results bag when ``results``),
    and the count of skipped images by reason."""
    pipeline, tracker = build_pipeline(settings)
    records: list[FrameRecord] = []
    writer = BagWriter(results, truth_topic=None) if results is not None else None
    reader = FrameReader(bag, image_topic, camera_info_topic, truth_topic)
    try:
        if writer is not None:
            writer.open()
        with reader, tqdm(desc=bag.name, unit="frame", disable=not progress) as bar:
            for frame in reader:
                if max_frames is not None and len(records) >= max_frames:
                    break
                tic = time.perf_counter()
                # A distorted frame is fitted undistorted, its estimates put back on it.
                lens = frame.lens if settings.get("undistort", True) else None
                rgb, K = ((frame.rgb, frame.K) if lens is None
                          else (lens.rectify(frame.rgb), lens.camera))
                humans = pipeline.track(rgb, K, tracker, frame.stamp_ns / 1e9)
                if lens is not None:
                    lens.to_raw(humans)
                records.append(FrameRecord(frame.stamp_ns, humans, frame.truth,
                                           processing_ms=(time.perf_counter() - tic) * 1e3))
                if writer is not None:
                    _write(writer, frame, humans, settings)
                bar.update()
    finally:
        if writer is not None:
            writer.close()
    return records, dict(reader.skipped)


def _write(writer: BagWriter, frame: Any, humans: list, settings: dict[str, Any]) -> None:
    """The frame's image, poses, overlay and markers into the results bag."""
    stamp, frame_id = frame.stamp_ns, frame.frame_id
    writer.write("/camera/image_raw", IMAGE, image_message(frame.rgb, stamp, frame_id), stamp)
    writer.write(POSES_TOPIC, "nbf_ros/msg/HumanPoseArray",
                 human_pose_array_message(humans, stamp, frame_id), stamp)
    writer.write(OVERLAY_TOPIC, IMAGE,
                 image_message(draw_estimates(frame.rgb, humans), stamp, frame_id), stamp)
    markers = _marker_bytes(humans, stamp, frame_id, settings["marker_lifetime"])
    if markers is not None:
        writer.write_raw(MARKERS_TOPIC, "visualization_msgs/msg/MarkerArray", markers, stamp)
