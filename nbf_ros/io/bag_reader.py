"""Read camera frames, ground truth and any topic from a rosbag2 (MCAP or sqlite3) without ROS."""

from __future__ import annotations

import warnings
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
from rosbags.highlevel import AnyReader

from nbf_ros.estimate import HumanEstimate
from nbf_ros.io.convert import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    HUMAN_POSE_ARRAY,
    IMAGE,
    CameraInfoError,
    estimates_from_message,
    image_from_message,
    intrinsics_from_camera_info,
    stamp_to_ns,
)
from nbf_ros.io.typestore import nbf_typestore
from nbf_ros.io.undistort import Lens, LensReader

__all__ = [
    "INVALID_CAMERA_INFO",
    "NO_CAMERA_INFO_YET",
    "SIZE_MISMATCH",
    "BagFrame",
    "FrameReader",
    "MissingTopicError",
    "count_messages",
    "list_topics",
    "read_frames",
    "read_messages",
    "read_raw",
]

# Reasons an image is not yielded as a frame; the keys of FrameReader.skipped.
NO_CAMERA_INFO_YET = "no_camera_info_yet"  # no CameraInfo stamped at or before the image
INVALID_CAMERA_INFO = "invalid_camera_info"  # the latest CameraInfo has unusable intrinsics
SIZE_MISMATCH = "camera_info_size_mismatch"  # the latest CameraInfo is for another resolution

# K [3, 3], width, height and the lens distortion (None: a pinhole camera).
_Intrinsics = tuple[np.ndarray, int, int, Lens | None]


class MissingTopicError(LookupError):
    """A topic asked for is not in the bag."""


@dataclass
class BagFrame:
    """One image of a bag with the intrinsics valid for it and, if recorded, its truth."""

    stamp_ns: int  # header stamp of the image
    frame_id: str  # header frame_id of the image
    rgb: np.ndarray  # [H, W, 3] uint8
    K: np.ndarray  # [3, 3] float64 intrinsics of the latest CameraInfo at or before stamp_ns
    width: int
    height: int
    truth: list[HumanEstimate] | None  # None: no truth message with exactly this stamp
    lens: Lens | None = None  # the CameraInfo's lens distortion (None: a pinhole camera)


def _open(path: Path) -> AnyReader:
    """An unopened AnyReader; our type store serves bags that carry no definitions."""
    return AnyReader([path], default_typestore=nbf_typestore())


def list_topics(path: str | Path) -> dict[str, str]:
    """Topic name -> message type of every topic in the bag."""
    with _open(Path(path)) as reader:
        return {topic: str(info.msgtype) for topic, info in reader.topics.items()}


def count_messages(path: str | Path, topic: str) -> int:
    """Messages on the topic, from the bag's index (no message is read)."""
    path = Path(path)
    with _open(path) as reader:
        infos = dict(reader.topics)
    if topic not in infos:
        raise _missing(path, topic, {name: str(info.msgtype) for name, info in infos.items()})
    return int(infos[topic].msgcount)


def _missing(path: Path, topic: str, topics: dict[str, str], hint: str = "") -> MissingTopicError:
    """The error for a topic that is not in the bag, listing the topics that are."""
    present = ", ".join(f"{name} ({msgtype})" for name, msgtype in sorted(topics.items()))
    return MissingTopicError(f"topic {topic!r} not found in bag {path}; topics present: "
                             f"{present or 'none'}{hint}")


def _check_type(topic: str, topics: dict[str, str], expected: tuple[str, ...]) -> None:
    """ValueError unless topic carries one of the expected message types."""
    if topics[topic] not in expected:
        raise ValueError(f"topic {topic!r} carries {topics[topic]}, expected "
                         f"{' or '.join(expected)}")


def _on_topic(reader: AnyReader, topic: str) -> Iterator[tuple[int, Any]]:
    """(bag timestamp, message) of one topic of an open reader, in bag time order."""
    connections = [c for c in reader.connections if c.topic == topic]
    for connection, timestamp, raw in reader.messages(connections=connections):
        yield timestamp, reader.deserialize(raw, connection.msgtype)


def _messages(path: Path, topic: str) -> Iterator[tuple[int, Any]]:
    """(bag timestamp, message) of one topic, with the bag open only while iterating."""
    with _open(path) as reader:
        yield from _on_topic(reader, topic)


def read_messages(path: str | Path, topic: str) -> Iterator[tuple[int, Any]]:
    """(bag receive timestamp in ns, deserialised message) of every message on the topic."""
    path = Path(path)
    topics = list_topics(path)
    # Checked here, not in the generator, so that a wrong name fails at the call.
    if topic not in topics:
        raise _missing(path, topic, topics)
    return _messages(path, topic)


def read_raw(path: str | Path, topics: Sequence[str]) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, message type, bag timestamp ns, CDR bytes) of the topics' messages, in bag
    time order (what a player republishes without decoding)."""
    path = Path(path)
    present = list_topics(path)
    for topic in topics:
        if topic not in present:
            raise _missing(path, topic, present)
    with _open(path) as reader:
        connections = [c for c in reader.connections if c.topic in topics]
        for connection, timestamp, raw in reader.messages(connections=connections):
            yield connection.topic, str(connection.msgtype), timestamp, bytes(raw)


class FrameReader(Iterator[BagFrame]):
    """Iterator over the frames of a bag; `skipped` counts the images it did not yield.

    Each image is paired with the latest CameraInfo whose header stamp is at or before the
    image's, and with the truth message of exactly the image's header stamp. Pairing is by
    header stamp, not by order in the bag, so messages recorded with equal bag timestamps
    pair the same in every storage. An image that cannot be paired with usable intrinsics
    is skipped and counted in `skipped` under NO_CAMERA_INFO_YET, INVALID_CAMERA_INFO or
    SIZE_MISMATCH; an image that does not decode raises ImageError.
    """

    def __init__(
        self,
        path: str | Path,
        image_topic: str = "/camera/image_raw",
        camera_info_topic: str = "/camera/camera_info",
        truth_topic: str | None = "/ground_truth/humans",
    ) -> None:
        """Check the topics now (MissingTopicError, ValueError); read lazily while iterating."""
        self.path = Path(path)
        topics = list_topics(self.path)
        # BagWriter(compressed=True) records /x as /x/compressed: the same default reads both.
        compressed = f"{image_topic.rstrip('/')}/compressed"
        if image_topic not in topics and compressed in topics:
            image_topic = compressed
        for topic in (image_topic, camera_info_topic):
            if topic not in topics:
                raise _missing(self.path, topic, topics)
        if truth_topic is not None and truth_topic not in topics:
            hint = "; pass truth_topic=None to read frames without ground truth"
            raise _missing(self.path, truth_topic, topics, hint)
        _check_type(image_topic, topics, (IMAGE, COMPRESSED_IMAGE))
        _check_type(camera_info_topic, topics, (CAMERA_INFO,))
        if truth_topic is not None:
            _check_type(truth_topic, topics, (HUMAN_POSE_ARRAY,))
        self.image_topic = image_topic
        self.camera_info_topic = camera_info_topic
        self.truth_topic = truth_topic
        self.skipped: dict[str, int] = {}
        self._frames = self._generate()

    def __next__(self) -> BagFrame:
        """The next frame that has usable intrinsics."""
        return next(self._frames)

    def close(self) -> None:
        """Stop reading and close the bag (iterating to the end does this too)."""
        self._frames.close()

    def __enter__(self) -> Self:
        """This reader; the bag is closed when the block ends."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the bag."""
        self.close()

    def _skip(self, reason: str) -> None:
        """Count one image not yielded."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def _generate(self) -> Iterator[BagFrame]:
        """Frames in bag order of the images."""
        with _open(self.path) as reader:
            # CameraInfo and truth are small: read them all first, then stream the images.
            info_stamps, intrinsics = _intrinsics_by_stamp(reader, self.camera_info_topic)
            truths = {} if self.truth_topic is None else _truth_by_stamp(reader, self.truth_topic)
            for _, image in _on_topic(reader, self.image_topic):
                stamp = stamp_to_ns(image.header.stamp)
                index = bisect_right(info_stamps, stamp) - 1
                if index < 0:
                    self._skip(NO_CAMERA_INFO_YET)
                    continue
                entry = intrinsics[index]
                if entry is None:
                    self._skip(INVALID_CAMERA_INFO)
                    continue
                K, width, height, lens = entry
                rgb = image_from_message(image)
                if rgb.shape[:2] != (height, width):
                    self._skip(SIZE_MISMATCH)
                    continue
                yield BagFrame(stamp_ns=stamp, frame_id=str(image.header.frame_id), rgb=rgb,
                               K=K.copy(), width=width, height=height, truth=truths.get(stamp),
                               lens=lens)


def _intrinsics_by_stamp(
    reader: AnyReader, topic: str
) -> tuple[list[int], list[_Intrinsics | None]]:
    """Header stamps in ascending order and the (K, width, height, lens) at each; None if
    unusable."""
    entries: list[tuple[int, _Intrinsics | None]] = []
    lenses = LensReader()
    for _, info in _on_topic(reader, topic):
        try:
            K, width, height = intrinsics_from_camera_info(info)
            lens, unknown = lenses.read(info, K, width, height)
            intrinsics: _Intrinsics | None = (K, width, height, lens)
        except CameraInfoError:
            intrinsics = unknown = None
        if unknown:
            warnings.warn(unknown, stacklevel=2)
        entries.append((stamp_to_ns(info.header.stamp), intrinsics))
    entries.sort(key=lambda entry: entry[0])  # stable: of equal stamps the later one wins
    return [stamp for stamp, _ in entries], [intrinsics for _, intrinsics in entries]


def _truth_by_stamp(reader: AnyReader, topic: str) -> dict[int, list[HumanEstimate]]:
    """People of every truth message by header stamp (the later of equal stamps wins)."""
    return {stamp_to_ns(msg.header.stamp): estimates_from_message(msg)
            for _, msg in _on_topic(reader, topic)}


def read_frames(
    path: str | Path,
    image_topic: str = "/camera/image_raw",
    camera_info_topic: str = "/camera/camera_info",
    truth_topic: str | None = "/ground_truth/humans",
) -> FrameReader:
    """Iterator over the bag's frames (see FrameReader for pairing and skipped images)."""
    return FrameReader(path, image_topic, camera_info_topic, truth_topic)
