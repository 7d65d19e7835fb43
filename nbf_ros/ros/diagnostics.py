"""The pose node's health in /diagnostics: rates, latency, drops, bad input, engine, device."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from nbf_ros.stream.stats import LatencyWindow, RateMeter

__all__ = ["PoseHealth", "StampRate"]


class StampRate:
    """The camera's frame rate read from the header stamps of the frames that arrived, and
    the share of its frames that arrived, over the last ``window`` seconds of arrivals.

    Frames lost on the way (best-effort QoS drops large images in fragments) leave gaps of
    whole periods between the stamps that arrive, so the shortest spacings give the camera's
    period: their 10th percentile, which jitter does not pull much below it. With no two
    consecutive frames arriving the period reads long and the share high: both are bounds.
    """

    def __init__(self, window: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._seen: deque[tuple[float, float]] = deque()  # (arrival, stamp), seconds
        self._lock = threading.Lock()

    def tick(self, stamp: float) -> None:
        """A frame stamped ``stamp`` (seconds) arrived now."""
        with self._lock:
            now = self._clock()
            self._seen.append((now, stamp))
            while self._seen and self._seen[0][0] < now - self.window:
                self._seen.popleft()

    def summary(self) -> tuple[float, float] | None:
        """(camera rate by stamps in Hz, share of its frames that arrived in [0, 1]), or
        None with fewer than three frames or no advancing stamps in the window."""
        with self._lock:
            cutoff = self._clock() - self.window
            stamps = np.sort([stamp for arrival, stamp in self._seen if arrival >= cutoff])
        steps = np.diff(stamps)
        steps = steps[steps > 0]
        if len(steps) < 2:
            return None
        period = float(np.percentile(steps, 10))
        span = float(stamps[-1] - stamps[0])
        return 1.0 / period, min(1.0, len(steps) * period / span)


class PoseHealth:
    """Counters and rolling statistics of the node, turned into one DiagnosticStatus."""

    def __init__(self, name: str, window: float = 5.0) -> None:
        self.name = name
        self.input_rate = RateMeter(window)
        self.stamp_rate = StampRate(window)
        self.output_rate = RateMeter(window)
        self.latency = LatencyWindow()
        self.processing = LatencyWindow()
        self.rejected: Counter[str] = Counter()  # bad-input frames by reason
        self.errors = 0  # frames lost to an unexpected error inside the pipeline
        self.people = 0  # people in the last published frame
        self.bad_fits = 0  # people dropped because their fit was not finite
        self._recent: dict[str, str] = {}  # reason -> last message, since the last report
        self._lock = threading.Lock()

    def received(self, stamp: float) -> None:
        """Count an image that arrived, stamped ``stamp`` (seconds)."""
        self.input_rate.tick()
        self.stamp_rate.tick(stamp)

    def reject(self, reason: str, message: str, frame: bool = True) -> None:
        """Report a problem (``reason``: a short key) with its explanation; ``frame``: it
        cost a frame, counted under "frames rejected" (an invalid camera_info does not)."""
        with self._lock:
            if frame:
                self.rejected[reason] += 1
            self._recent[reason] = message

    def status(self, hardware_id: str, values: dict[str, str]) -> DiagnosticStatus:
        """The status since the last call: WARN while bad input arrives, OK otherwise."""
        with self._lock:
            recent, self._recent = self._recent, {}
            rejected = dict(self.rejected)
        lat, proc = self.latency.summary(), self.processing.summary()
        level, message = DiagnosticStatus.OK, "running"
        if recent:
            level = DiagnosticStatus.WARN
            message = "; ".join(f"{k}: {v}" for k, v in sorted(recent.items()))
        entries = {
            "input rate (Hz)": f"{self.input_rate.rate():.2f}",
            "output rate (Hz)": f"{self.output_rate.rate():.2f}",
            "latency p50 (ms)": f"{lat['p50'] * 1e3:.1f}",
            "latency p95 (ms)": f"{lat['p95'] * 1e3:.1f}",
            "latency max (ms)": f"{lat['max'] * 1e3:.1f}",
            "processing p50 (ms)": f"{proc['p50'] * 1e3:.1f}",
            "frames received": str(self.input_rate.total),
            "frames published": str(self.output_rate.total),
            "frames rejected": str(sum(rejected.values())),
            "people": str(self.people),
            "non-finite fits dropped": str(self.bad_fits),
            "pipeline errors": str(self.errors),
        }
        by_stamps = self.stamp_rate.summary()
        # Received against sent: a camera at 30 Hz whose frames arrive at 12 Hz loses them
        # on the way (QoS, network), not in the node (that is "frames dropped (busy)").
        entries["camera rate by stamps (Hz)"] = f"{by_stamps[0]:.2f}" if by_stamps else "n/a"
        entries["frames reaching the node (%)"] = (f"{100 * by_stamps[1]:.0f}" if by_stamps
                                                   else "n/a")
        entries.update(values)
        entries.update({f"rejected: {k}": str(v) for k, v in sorted(rejected.items())})
        return DiagnosticStatus(level=level, name=self.name, message=message,
                                hardware_id=hardware_id,
                                values=[KeyValue(key=k, value=v) for k, v in entries.items()])

    def array(self, stamp: Time, hardware_id: str, values: dict[str, str]) -> DiagnosticArray:
        """A DiagnosticArray holding status(), stamped ``stamp``."""
        msg = DiagnosticArray(status=[self.status(hardware_id, values)])
        msg.header.stamp = stamp
        return msg
