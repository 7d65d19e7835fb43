"""LatestSlot: the worker always gets the newest frame; older untaken frames are dropped."""

from __future__ import annotations

import threading
import time

from nbf_ros.stream.slot import LatestSlot


def test_take_returns_the_newest_item_and_counts_the_replaced_ones() -> None:
    slot: LatestSlot[int] = LatestSlot()
    results = [slot.put(i) for i in range(5)]
    assert results == [True, False, False, False, False]
    assert slot.take(timeout=0) == 4
    assert (slot.put_count, slot.dropped) == (5, 4)


def test_take_times_out_empty() -> None:
    assert LatestSlot().take(timeout=0.01) is None


def test_take_wakes_when_an_item_arrives_from_another_thread() -> None:
    slot: LatestSlot[str] = LatestSlot()
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    started = time.monotonic()
    assert slot.take(timeout=5) == "frame"
    assert time.monotonic() - started < 2


def test_close_releases_a_waiting_taker_and_reopen_empties() -> None:
    slot: LatestSlot[int] = LatestSlot()
    threading.Timer(0.05, slot.close).start()
    assert slot.take(timeout=5) is None
    slot.put(1)
    slot.reopen()
    assert slot.take(timeout=0) is None
