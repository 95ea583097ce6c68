"""Clocks: `to_wall` turns an instant on the daemon's clock into the real instant that the
scheduler (which runs on real time) waits for."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lifecycle.clock import FixedClock, ScaledClock, SystemClock

# Two readings of the real clock in one test are this close together.
CLOSE = timedelta(milliseconds=200)


def test_the_system_clock_is_the_wall(now: datetime) -> None:
    assert SystemClock().to_wall(now) == now


@pytest.mark.parametrize(
    ("speed", "ahead", "real"),
    [
        (1.0, timedelta(seconds=10), timedelta(seconds=10)),
        (30.0, timedelta(minutes=1), timedelta(seconds=2)),  # the demo: a minute in 2 s
        (1.0, -timedelta(seconds=5), -timedelta(seconds=5)),  # past: due already
    ],
)
def test_an_instant_ahead_on_the_clock_is_that_far_ahead_in_real_time_over_speed(
    now: datetime, speed: float, ahead: timedelta, real: timedelta
) -> None:
    for clock in (FixedClock(now, speed=speed), ScaledClock(now, speed=speed)):
        base = clock.to_wall(clock.now())
        assert abs(clock.to_wall(clock.now() + ahead) - base - real) < CLOSE


def test_a_jump_moves_every_instant_after_it(now: datetime) -> None:
    clock = ScaledClock(now, speed=30.0)
    edge = now + timedelta(hours=15)
    assert abs(clock.to_wall(edge) - clock.to_wall(now) - timedelta(minutes=30)) < CLOSE
    clock.jump_to(edge - timedelta(minutes=1))  # the demo skips the night
    in_two_seconds = clock.to_wall(clock.now()) + timedelta(seconds=2)
    assert abs(clock.to_wall(edge) - in_two_seconds) < CLOSE
