"""When the first stage of a two-stage frame pipeline should start on its next frame.

A first stage (decode, network) that starts as soon as the second (fitting) takes its last
frame leaves every frame waiting for a whole fit before its own: more frames per second,
but each up to a fit older. Starting it just in time, so that its frame is ready as the
second stage becomes free, keeps the rate and gives each frame about the latency of the two
stages alone.

Expected durations are medians of the last few, so one cold fit of a new person (120 steps
where tracked people take 5) does not hold back the frames after it, and a fit that ends
earlier than expected wakes the first stage at once. A fit that runs longer than expected
would leave the prepared frame waiting: once it has waited a first stage's run, the first
stage makes a newer one in its place (``refresh_due``). ``may_start`` is the whole rule, as
the pipelined node and ``nbf-ros bench --pipelined`` both apply it.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from nbf_ros.stream.slot import LatestSlot

__all__ = ["JustInTime"]


class JustInTime:
    """Recent stage durations and the first stage's start time."""

    def __init__(self, window: int = 5, clock: Callable[[], float] = time.monotonic) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.clock = clock  # seconds; every time this class reads or keeps comes from it
        self._first: deque[float] = deque(maxlen=window)
        self._second: deque[float] = deque(maxlen=window)
        self._second_since: float | None = None  # when the second stage started its frame
        self._made_at = 0.0  # when the first stage last finished a frame
        self._cond = threading.Condition()

    @property
    def expected(self) -> tuple[float | None, float | None]:
        """Expected seconds of the first and second stage (None before the first frame)."""
        with self._cond:
            return _median(self._first), _median(self._second)

    def first_done(self, seconds: float) -> None:
        """The first stage finished a frame now, in ``seconds``."""
        with self._cond:
            self._first.append(seconds)
            self._made_at = self.clock()

    def second_started(self) -> None:
        """The second stage starts a frame now."""
        with self._cond:
            self._second_since = self.clock()

    def second_done(self) -> None:
        """The second stage finished its frame now (wakes a waiting first stage)."""
        with self._cond:
            if self._second_since is not None:
                self._second.append(self.clock() - self._second_since)
            self._second_since = None
            self._cond.notify_all()

    def start_delay(self) -> float:
        """Seconds the first stage should wait before taking its next frame (0: now)."""
        with self._cond:
            return self._delay()

    def wait_start(self, limit: float = 0.2) -> bool:
        """Wait until the first stage should start, at most ``limit`` seconds (so a caller
        can check for shutdown); True when it should start now."""
        with self._cond:
            delay = self._delay()
            if delay > 0:
                self._cond.wait(min(delay, limit))
                delay = self._delay()
            return delay <= 0

    def refresh_due(self) -> bool:
        """Whether the first stage's last frame, if the second has not taken it yet, has
        waited as long as the first stage takes: a newer frame made now would be fitted no
        later and be fresher."""
        with self._cond:
            first = _median(self._first)
            return first is not None and self.clock() - self._made_at >= first

    def may_start(self, handoff: LatestSlot[Any], newer: bool) -> bool:
        """Whether the first stage should take its next frame now (waits a fraction of a
        second, so a caller can check for shutdown): the second stage has taken the last
        frame from ``handoff`` and would end its fit about when the first is done, or the
        frame it left waiting there is due for a refresh and a ``newer`` one has come."""
        if handoff.wait_taken(timeout=0.05):
            return self.wait_start(limit=0.2)
        return newer and self.refresh_due()

    def _delay(self) -> float:
        first, second = _median(self._first), _median(self._second)
        if self._second_since is None or first is None or second is None:
            return 0.0  # the second stage is idle, or nothing is known yet
        return max(0.0, self._second_since + second - first - self.clock())


def _median(values: deque[float]) -> float | None:
    return statistics.median(values) if values else None
