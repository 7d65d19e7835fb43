"""Rolling rates and latency percentiles of a live stream."""

from __future__ import annotations

import math

import pytest

from nbf_ros.stream.stats import LatencyWindow, RateMeter


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_counts_events_in_the_window_only() -> None:
    clock = FakeClock()
    meter = RateMeter(window=2.0, clock=clock)
    for i in range(20):  # 10 Hz for 2 s
        clock.now = i * 0.1
        meter.tick()
    assert meter.rate() == pytest.approx(10.0)
    clock.now = 10.0
    assert meter.rate() == 0.0 and meter.total == 20


def test_latency_summary_gives_percentiles_of_the_last_values() -> None:
    window = LatencyWindow(size=100)
    for v in range(1, 201):  # only 101..200 stay
        window.add(v / 1000)
    s = window.summary()
    assert s["count"] == 100 and s["max"] == pytest.approx(0.2)
    assert s["p50"] == pytest.approx(0.1505) and s["p95"] == pytest.approx(0.19505)


def test_empty_latency_summary_is_nan() -> None:
    assert math.isnan(LatencyWindow().summary()["p50"])


@pytest.mark.parametrize("make", [lambda: RateMeter(0), lambda: LatencyWindow(0)])
def test_non_positive_sizes_are_refused(make) -> None:  # noqa: ANN001
    with pytest.raises(ValueError):
        make()
