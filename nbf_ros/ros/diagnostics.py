"""The pose node's health in /diagnostics: rates, latency, drops, bad input, engine, device."""

from __future__ import annotations

import threading
from collections import Counter

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from nbf_ros.stream.stats import LatencyWindow, RateMeter

__all__ = ["PoseHealth"]


class PoseHealth:
    """Counters and rolling statistics of the node, turned into one DiagnosticStatus."""

    def __init__(self, name: str, window: float = 5.0) -> None:
        self.name = name
        self.input_rate = RateMeter(window)
        self.output_rate = RateMeter(window)
        self.latency = LatencyWindow()
        self.processing = LatencyWindow()
        self.rejected: Counter[str] = Counter()  # bad-input frames by reason
        self.errors = 0  # frames lost to an unexpected error inside the pipeline
        self.people = 0  # people in the last published frame
        self.bad_fits = 0  # people dropped because their fit was not finite
        self._recent: dict[str, str] = {}  # reason -> last message, since the last report
        self._lock = threading.Lock()

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
