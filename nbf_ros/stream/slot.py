"""A hand-over point of size one between a subscriber callback and a worker thread.

A camera callback must never wait for the pipeline, and a queue that grows while the
pipeline is slower than the camera only adds latency. So the callback puts the newest frame
here, replacing (dropping and counting) one the worker has not taken yet, and the worker
always takes the newest frame there is.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["LatestSlot"]

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most one item; put() replaces an untaken item, take() waits for one."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._full = False
        self._closed = False
        self._cond = threading.Condition()
        self.put_count = 0  # items ever put
        self.dropped = 0  # items replaced before a take(): frames the worker never saw

    @property
    def closed(self) -> bool:
        """Whether close() was called (and not undone by reopen())."""
        with self._cond:
            return self._closed

    @property
    def waiting(self) -> bool:
        """Whether an item is there that nobody has taken yet."""
        with self._cond:
            return self._full

    def put(self, item: T) -> bool:
        """Offer the newest item; False when it replaced an item nobody took."""
        with self._cond:
            replaced = self._full
            self._item, self._full = item, True
            self.put_count += 1
            self.dropped += replaced
            self._cond.notify()
        return not replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to ``timeout`` seconds; None on timeout or close()."""
        with self._cond:
            self._cond.wait_for(lambda: self._full or self._closed, timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self._cond.notify_all()  # a producer may be waiting in wait_taken()
            return item

    def wait_taken(self, timeout: float | None = None) -> bool:
        """Wait until the slot holds no untaken item; False on timeout or close()."""
        with self._cond:
            self._cond.wait_for(lambda: not self._full or self._closed, timeout)
            return not self._full and not self._closed

    def close(self) -> None:
        """Wake every waiting take() (which then returns what is left, or None)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        """Accept waiting again after close(), empty."""
        with self._cond:
            self._item, self._full, self._closed = None, False, False
