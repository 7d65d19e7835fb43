"""/diagnostics says how many of the camera's frames reach the node, read from their stamps."""

from __future__ import annotations

import numpy as np
import pytest


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def values(health) -> dict[str, str]:  # noqa: ANN001
    return {kv.key: kv.value for kv in health.status("cpu", {}).values}


def test_lost_frames_show_against_the_stamps_rate(rclpy_module) -> None:  # noqa: ANN001
    from nbf_ros.ros.diagnostics import PoseHealth, StampRate

    health = PoseHealth("/x: pose estimation")
    clock = FakeClock()
    health.stamp_rate = StampRate(5.0, clock=clock)
    rng = np.random.default_rng(0)
    # A 30 Hz camera (stamps jitter by 1 ms) of which 2 frames in 5 arrive, at random, as a
    # 640 x 480 best-effort stream did on loopback.
    arrived = 0
    for i in range(150):
        clock.now += 1 / 30
        if rng.random() < 0.4:
            health.received(1_800_000_000.0 + i / 30 + rng.normal(0, 0.001))
            arrived += 1  # the 5 s window holds all 150 frames
    found = values(health)
    assert float(found["input rate (Hz)"]) == pytest.approx(arrived / 5.0)
    assert float(found["camera rate by stamps (Hz)"]) == pytest.approx(30, rel=0.1)
    assert float(found["frames reaching the node (%)"]) == pytest.approx(
        100 * arrived / 150, abs=8)


def test_every_frame_arriving_reads_100_percent(rclpy_module) -> None:  # noqa: ANN001
    from nbf_ros.ros.diagnostics import PoseHealth

    health = PoseHealth("/x: pose estimation")
    assert values(health)["frames reaching the node (%)"] == "n/a"  # nothing yet
    for i in range(10):
        health.received(5.0 + i * 0.1)
    found = values(health)
    assert float(found["camera rate by stamps (Hz)"]) == pytest.approx(10)
    assert found["frames reaching the node (%)"] == "100"
