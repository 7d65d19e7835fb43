"""JustInTime: the network stage starts so that its frame is ready as the fit ends."""

from __future__ import annotations

import threading
import time

import pytest

from nbf_ros.stream.schedule import JustInTime
from nbf_ros.stream.slot import LatestSlot


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fitted(schedule: JustInTime, clock: Clock, *seconds: float) -> None:
    """The second stage runs one frame per duration, one after the other."""
    for s in seconds:
        schedule.second_started()
        clock.now += s
        schedule.second_done()


def test_starts_at_once_before_anything_is_known() -> None:
    schedule = JustInTime(clock=Clock())
    schedule.second_started()
    assert schedule.start_delay() == 0.0


def test_waits_until_the_running_fit_has_a_network_time_left() -> None:
    clock = Clock()
    schedule = JustInTime(clock=clock)
    schedule.first_done(0.03)
    fitted(schedule, clock, 0.10)
    clock.now = 5.0
    schedule.second_started()  # a fit of about 0.10 s runs from t = 5.0
    assert schedule.start_delay() == pytest.approx(0.07)
    clock.now = 5.05
    assert schedule.start_delay() == pytest.approx(0.02)
    clock.now = 5.2  # the fit overran: start now
    assert schedule.start_delay() == 0.0


def test_starts_at_once_while_the_fitting_stage_is_idle() -> None:
    clock = Clock()
    schedule = JustInTime(clock=clock)
    schedule.first_done(0.03)
    fitted(schedule, clock, 0.10)
    assert schedule.start_delay() == 0.0


def test_a_network_slower_than_the_fit_never_waits() -> None:
    clock = Clock()
    schedule = JustInTime(clock=clock)
    schedule.first_done(0.2)
    fitted(schedule, clock, 0.05)
    schedule.second_started()
    assert schedule.start_delay() == 0.0


def test_one_long_cold_fit_does_not_change_the_expected_fit() -> None:
    clock = Clock()
    schedule = JustInTime(window=5, clock=clock)
    fitted(schedule, clock, 0.1, 0.1, 2.0, 0.1)  # a new person's 120-step fit in between
    assert schedule.expected[1] == pytest.approx(0.1)


def test_a_fit_ending_early_wakes_the_waiting_network_stage() -> None:
    clock = Clock()
    schedule = JustInTime(clock=clock)
    schedule.first_done(0.01)
    fitted(schedule, clock, 10.0)
    schedule.second_started()  # expected to run 10 s; it ends after 0.05 s of real time
    threading.Timer(0.05, schedule.second_done).start()
    started = time.monotonic()
    assert schedule.wait_start(limit=5.0)
    assert time.monotonic() - started < 2.0


def test_window_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        JustInTime(window=0)


def test_a_waiting_frame_is_due_for_refresh_after_a_network_run() -> None:
    clock = Clock()
    schedule = JustInTime(clock=clock)
    assert not schedule.refresh_due()  # nothing known about the network yet
    clock.now = 1.0
    schedule.first_done(0.03)  # a frame made at t = 1.0 in 0.03 s
    clock.now = 1.02
    assert not schedule.refresh_due()
    clock.now = 1.03
    assert schedule.refresh_due()


def test_may_start_at_once_when_the_handoff_is_free_and_the_fitter_idle() -> None:
    schedule = JustInTime(clock=Clock())
    assert schedule.may_start(LatestSlot(), newer=False)


def test_may_start_replaces_a_stale_waiting_frame_only_with_a_newer_one() -> None:
    clock = Clock()
    schedule = JustInTime(clock=clock)
    handoff: LatestSlot[int] = LatestSlot()
    schedule.first_done(0.03)
    handoff.put(1)  # made at t = 0, not taken: the fitter is busy
    assert not schedule.may_start(handoff, newer=True)  # not stale yet
    clock.now = 0.05
    assert not schedule.may_start(handoff, newer=False)  # stale, but nothing newer came
    assert schedule.may_start(handoff, newer=True)
