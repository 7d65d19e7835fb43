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


def test_wait_taken_returns_at_once_when_empty_and_times_out_while_full() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.wait_taken(timeout=0.0)
    slot.put(1)
    assert not slot.wait_taken(timeout=0.05)


def test_wait_taken_wakes_when_another_thread_takes_the_item() -> None:
    slot: LatestSlot[int] = LatestSlot()
    slot.put(1)
    taker = threading.Timer(0.05, slot.take)
    taker.start()
    assert slot.wait_taken(timeout=5.0)
    taker.join()


def test_close_releases_a_producer_waiting_for_the_item_to_be_taken() -> None:
    slot: LatestSlot[int] = LatestSlot()
    slot.put(1)
    closer = threading.Timer(0.05, slot.close)
    closer.start()
    assert not slot.wait_taken(timeout=5.0)
    closer.join()


def test_waiting_and_closed_say_what_the_slot_holds() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert not slot.waiting and not slot.closed
    slot.put(1)
    assert slot.waiting
    slot.take(timeout=0)
    assert not slot.waiting
    slot.close()
    assert slot.closed
