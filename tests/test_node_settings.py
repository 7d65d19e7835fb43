"""The node's settings without ROS: how many torch CPU threads a configuration runs with."""

from __future__ import annotations

from nbf_ros.node_settings import cpu_threads, default_settings


def test_default_settings_leave_torch_its_threads() -> None:
    assert cpu_threads(default_settings()) is None


def test_pipelined_on_a_cpu_gives_each_stage_half_the_cores() -> None:
    settings = dict(default_settings(), pipelined=True, device="cpu")
    assert cpu_threads(settings, cores=2) == 1
    assert cpu_threads(settings, cores=16) == 8
    assert cpu_threads(settings, cores=1) == 1


def test_an_explicit_thread_count_wins() -> None:
    settings = dict(default_settings(), pipelined=True, device="cpu", cpu_threads=3)
    assert cpu_threads(settings, cores=16) == 3
