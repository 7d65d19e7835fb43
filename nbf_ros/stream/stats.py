"""Rolling statistics of a live stream: event rates and latency percentiles over a window."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

__all__ = ["LatencyWindow", "RateMeter"]


class RateMeter:
    """Events per second over the last ``window`` seconds (monotonic clock by default)."""

    def __init__(self, window: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if window <= 0:
            raise ValueError(f"window must be positive, got {window}")
        self.window = window
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.total = 0

    def tick(self) -> None:
        """Count one event now."""
        with self._lock:
            self._times.append(self._clock())
            self.total += 1
            self._trim()

    def rate(self) -> float:
        """Events per second in the window ending now."""
        with self._lock:
            self._trim()
            return len(self._times) / self.window

    def _trim(self) -> None:
        cutoff = self._clock() - self.window
        while self._times and self._times[0] < cutoff:
            self._times.popleft()


class LatencyWindow:
    """The last ``size`` latencies (seconds), summarised as p50 / p95 / max."""

    def __init__(self, size: int = 300) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        """Record one latency."""
        with self._lock:
            self._values.append(float(seconds))

    def summary(self) -> dict[str, float]:
        """{"p50", "p95", "max"} in seconds (NaN while empty) and "count"."""
        with self._lock:
            values = np.array(self._values, dtype=np.float64)
        if not values.size:
            return {"p50": float("nan"), "p95": float("nan"), "max": float("nan"), "count": 0}
        return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
                "max": float(values.max()), "count": int(values.size)}
