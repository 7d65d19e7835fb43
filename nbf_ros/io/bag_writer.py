"""Write camera frames, ground truth and any other message into a new rosbag2, without ROS."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from nbf_ros.estimate import HumanEstimate
from nbf_ros.io.convert import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    HUMAN_POSE_ARRAY,
    IMAGE,
    camera_info_message,
    compressed_image_message,
    human_pose_array_message,
    image_message,
)
from nbf_ros.io.typestore import nbf_typestore

__all__ = ["BagWriter", "Storage"]

Storage = Literal["mcap", "sqlite3"]
_PLUGINS: dict[str, StoragePlugin] = {"mcap": StoragePlugin.MCAP,
                                      "sqlite3": StoragePlugin.SQLITE3}


class BagWriter:
    """A new rosbag2 (MCAP or sqlite3) that ROS 2 tools can play; use it as a context manager.

    Every connection is made with the nbf_ros type store, so the bag carries the message
    definitions and RIHS01 hashes that `ros2 bag` and the readers here need. The frame topics
    (image, camera info and, unless truth_topic is None, ground truth) are created together
    on the first write_frame, so a bag with frames always has a truth topic, possibly empty.
    Leaving the block through an exception still closes the bag: what was written stays
    readable, as with `ros2 bag record` stopped by Ctrl-C.
    """

    def __init__(
        self,
        path: str | Path,
        storage: Storage = "mcap",
        image_topic: str = "/camera/image_raw",
        camera_info_topic: str = "/camera/camera_info",
        truth_topic: str | None = "/ground_truth/humans",
        compressed: bool = False,
        jpeg_quality: int = 95,
    ) -> None:
        """Remember the settings; nothing is created until open() or `with`."""
        if storage not in _PLUGINS:
            raise ValueError(f"unknown bag storage {storage!r}; use one of {sorted(_PLUGINS)}")
        self.path = Path(path)
        self.storage = storage
        # image_transport's convention: the JPEG stream of /x is published on /x/compressed.
        self.image_topic = f"{image_topic.rstrip('/')}/compressed" if compressed else image_topic
        self.camera_info_topic = camera_info_topic
        self.truth_topic = truth_topic
        self.compressed = compressed
        self.jpeg_quality = jpeg_quality
        self._writer: Writer | None = None
        self._connections: dict[str, Connection] = {}

    @property
    def typestore(self) -> Typestore:
        """Type store whose message classes write() accepts (e.g. for a MarkerArray)."""
        return nbf_typestore()

    def open(self) -> None:
        """Create the bag folder (and its parents); refuses to touch an existing path."""
        if self._writer is not None:
            raise RuntimeError(f"bag {self.path} is already open")
        if self.path.exists():
            raise FileExistsError(f"bag path {self.path} already exists; not overwriting it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = Writer(self.path, version=Writer.VERSION_LATEST,
                        storage_plugin=_PLUGINS[self.storage])
        writer.open()
        self._writer = writer

    def close(self) -> None:
        """Write the index and metadata.yaml; the bag is complete afterwards."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def __enter__(self) -> Self:
        """Open the bag."""
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the bag, also after an exception (which then propagates unchanged)."""
        if exc_type is None:
            self.close()
            return
        # The original error matters more than a second one while finishing the file.
        with suppress(Exception):
            self.close()

    def _connection(self, topic: str, msgtype: str) -> Connection:
        """The topic's connection, made on first use; one message type per topic."""
        if self._writer is None:
            raise RuntimeError(f"bag {self.path} is not open; use `with BagWriter(...)`")
        connection = self._connections.get(topic)
        if connection is None:
            if msgtype not in self.typestore.types:
                raise ValueError(f"message type {msgtype!r} is not in the nbf_ros type store")
            connection = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            self._connections[topic] = connection
        elif connection.msgtype != msgtype:
            raise ValueError(f"topic {topic!r} already carries {connection.msgtype}, "
                             f"cannot write {msgtype} to it")
        return connection

    def write(self, topic: str, msgtype: str, msg: Any, stamp_ns: int) -> None:
        """Serialise one message of type msgtype (e.g. 'std_msgs/msg/String') onto topic."""
        connection = self._connection(topic, msgtype)
        data = self.typestore.serialize_cdr(msg, msgtype)
        assert self._writer is not None  # checked by _connection
        self._writer.write(connection, int(stamp_ns), data)

    def write_raw(self, topic: str, msgtype: str, data: bytes, stamp_ns: int) -> None:
        """Write one message already serialised as CDR (as rclpy delivers with raw=True)."""
        connection = self._connection(topic, msgtype)
        assert self._writer is not None  # checked by _connection
        self._writer.write(connection, int(stamp_ns), bytes(data))

    def write_frame(
        self,
        stamp_ns: int,
        rgb: np.ndarray,
        K: np.ndarray,
        frame_id: str = "camera_optical_frame",
        truth: Sequence[HumanEstimate] | None = None,
        distortion: tuple[str, Sequence[float]] | None = None,
    ) -> None:
        """Write an image, its CameraInfo (with ``distortion``, a model name and D, when
        the image is distorted) and optional truth, all stamped stamp_ns."""
        if truth is not None and self.truth_topic is None:
            raise ValueError("truth given, but this BagWriter has truth_topic=None")
        # Every message is built before any is written: bad input leaves no half frame.
        if self.compressed:
            image_type = COMPRESSED_IMAGE
            image = compressed_image_message(rgb, stamp_ns, frame_id, self.jpeg_quality)
        else:
            image_type = IMAGE
            image = image_message(rgb, stamp_ns, frame_id)
        height, width = np.shape(rgb)[:2]
        info = camera_info_message(K, width, height, stamp_ns, frame_id,
                                   *(distortion or ()))
        humans = None if truth is None else human_pose_array_message(truth, stamp_ns, frame_id)

        frame_topics = [(self.camera_info_topic, CAMERA_INFO), (self.image_topic, image_type)]
        if self.truth_topic is not None:
            frame_topics.append((self.truth_topic, HUMAN_POSE_ARRAY))
        for topic, msgtype in frame_topics:
            self._connection(topic, msgtype)

        # CameraInfo first: a player's subscriber then has K when the image arrives.
        self.write(self.camera_info_topic, CAMERA_INFO, info, stamp_ns)
        self.write(self.image_topic, image_type, image, stamp_ns)
        if humans is not None:
            assert self.truth_topic is not None
            self.write(self.truth_topic, HUMAN_POSE_ARRAY, humans, stamp_ns)
