"""Approximate-time pairing of a colour frame with a second stream (depth, its camera_info).

ROS's ``message_filters.ApproximateTimeSynchronizer`` has no wheel for the machines this
project runs on, and the node needs less than it does: the colour frame leads (the node
serves the newest colour frame and drops the rest), and each follower stream is asked for
its message nearest the colour stamp, within a slop. Followers keep a short history by
stamp; a colour frame whose match may still be on its way (the follower's newest message is
older than the colour stamp) waits for it at most a given time.

Three answers, so that the node can say which case it met:

* a match (``Paired``, with the stamp offset);
* the follower lags: its newest message is older than the colour stamp by more than the
  slop (``Missing`` with reason "lags"), or it has sent nothing for ``stopped_after``
  seconds of wall time ("stopped");
* nothing ever came ("none yet": a colour-only camera, not a fault).
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Missing", "Paired", "StampBuffer"]

T = TypeVar("T")


@dataclass
class Paired(Generic[T]):
    """The follower's message nearest the colour stamp, and its stamp minus the colour's."""

    item: T
    offset_ns: int


@dataclass
class Missing:
    """No follower message within the slop: ``reason`` is "none yet", "lags" or "stopped";
    ``message`` says it in one line."""

    reason: str
    message: str


class StampBuffer(Generic[T]):
    """The last ``capacity`` messages of one stream by header stamp (thread-safe)."""

    def __init__(self, name: str, capacity: int = 8) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.name = name
        self.capacity = capacity
        self._stamps: list[int] = []
        self._items: list[T] = []
        self._arrived = -float("inf")  # time.monotonic() of the newest put
        self._cond = threading.Condition()

    def put(self, stamp_ns: int, item: T) -> None:
        """Keep a message; the oldest goes when the buffer is full (a message stamped like
        one already held replaces it)."""
        with self._cond:
            i = bisect.bisect_left(self._stamps, stamp_ns)
            if i < len(self._stamps) and self._stamps[i] == stamp_ns:
                self._items[i] = item
            else:
                self._stamps.insert(i, stamp_ns)
                self._items.insert(i, item)
            del self._stamps[: -self.capacity], self._items[: -self.capacity]
            self._arrived = time.monotonic()
            self._cond.notify_all()

    def clear(self) -> None:
        """Forget every message (a stream re-subscribed)."""
        with self._cond:
            self._stamps.clear()
            self._items.clear()
            self._arrived = -float("inf")

    def match(self, stamp_ns: int, slop_ns: int, wait_s: float = 0.0,
              stopped_after_s: float = 1.0) -> Paired[T] | Missing:
        """The message nearest ``stamp_ns`` within ``slop_ns``; when the newest message is
        older than the stamp (a nearer one may still come), wait for one up to ``wait_s``
        seconds first."""
        deadline = time.monotonic() + wait_s
        with self._cond:
            while self._stamps and self._stamps[-1] < stamp_ns:
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    break
            if not self._stamps:
                return Missing("none yet", f"no {self.name} received yet")
            i = bisect.bisect_left(self._stamps, stamp_ns)
            near = [j for j in (i - 1, i) if 0 <= j < len(self._stamps)]
            best = min(near, key=lambda j: abs(self._stamps[j] - stamp_ns))
            offset = self._stamps[best] - stamp_ns
            if abs(offset) <= slop_ns:
                return Paired(self._items[best], offset)
            quiet = time.monotonic() - self._arrived
            newest = self._stamps[-1] - stamp_ns
        if quiet > stopped_after_s:
            return Missing("stopped", f"{self.name} stream stopped: nothing for {quiet:.1f} s")
        if newest < 0:
            return Missing("lags", f"{self.name} lags the colour image by "
                           f"{-newest / 1e6:.0f} ms, more than the slop of "
                           f"{slop_ns / 1e6:.0f} ms")
        return Missing("lags", f"no {self.name} within {slop_ns / 1e6:.0f} ms of the colour "
                       f"image (nearest {offset / 1e6:+.0f} ms)")
