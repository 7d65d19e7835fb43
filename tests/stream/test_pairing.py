"""StampBuffer: the colour frame's nearest follower message within the slop, and a named
reason when there is none."""

from __future__ import annotations

import threading
import time

import pytest

from nbf_ros.stream.pairing import Missing, Paired, StampBuffer

MS = 1_000_000


def test_the_nearest_message_within_the_slop_is_paired_with_its_offset() -> None:
    buf: StampBuffer[str] = StampBuffer("depth")
    for stamp in (100, 133, 166):
        buf.put(stamp * MS, f"d{stamp}")
    got = buf.match(137 * MS, slop_ns=10 * MS)
    assert got == Paired("d133", -4 * MS)


def test_a_follower_older_than_the_slop_lags() -> None:
    buf: StampBuffer[str] = StampBuffer("depth")
    buf.put(100 * MS, "old")
    got = buf.match(250 * MS, slop_ns=20 * MS)
    assert isinstance(got, Missing) and got.reason == "lags"
    assert got.message == "depth lags the colour image by 150 ms, more than the slop of 20 ms"


def test_nothing_received_is_none_yet_not_a_fault() -> None:
    got = StampBuffer("depth").match(0, slop_ns=MS)
    assert isinstance(got, Missing) and got.reason == "none yet"


def test_a_stream_quiet_for_longer_than_stopped_after_has_stopped() -> None:
    buf: StampBuffer[str] = StampBuffer("depth")
    buf.put(100 * MS, "last")
    time.sleep(0.05)
    got = buf.match(500 * MS, slop_ns=20 * MS, stopped_after_s=0.02)
    assert isinstance(got, Missing) and got.reason == "stopped"
    assert got.message.startswith("depth stream stopped: nothing for ")


def test_a_match_arriving_after_the_colour_frame_is_waited_for() -> None:
    buf: StampBuffer[str] = StampBuffer("depth")
    buf.put(100 * MS, "early")
    threading.Timer(0.05, buf.put, args=(203 * MS, "late")).start()
    started = time.monotonic()
    got = buf.match(200 * MS, slop_ns=10 * MS, wait_s=2.0)
    assert got == Paired("late", 3 * MS)
    assert time.monotonic() - started < 1.5


def test_the_buffer_keeps_only_the_newest_messages() -> None:
    buf: StampBuffer[int] = StampBuffer("depth", capacity=2)
    for stamp in (1, 2, 3):
        buf.put(stamp * MS, stamp)
    assert isinstance(buf.match(1 * MS, slop_ns=0), Missing)
    assert buf.match(2 * MS, slop_ns=0) == Paired(2, 0)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        StampBuffer("depth", capacity=0)
