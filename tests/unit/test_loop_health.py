"""``/healthz`` tells a live evaluation loop from a dead or stuck one, whatever Prometheus does; backoff is bounded.

The liveness probe restarting the pod during a Prometheus outage cured nothing and lost the operator's state: a
loop backing off (up to five minutes) is alive; a loop whose task ended, or with no step begun for longer than a
step can take, is not.
"""

from __future__ import annotations

import asyncio

import pytest

from kpi_operator.runtime.evaluation_loop import backoff, next_wait
from kpi_operator.runtime.telemetry import Beat, Telemetry, grace, loop_problem

INTERVAL = 30.0
STEP = 30.0  # a step's own timeout (a query, or a few Kubernetes requests)
T0 = 1000.0


@pytest.mark.parametrize(
    "now, beat, ended, healthy",
    [
        pytest.param(T0 + 10, None, False, True, id="not started yet, within the grace"),
        pytest.param(T0 + grace(INTERVAL) + 1, None, False, False, id="never started"),
        pytest.param(T0 + 500, Beat(T0 + 200, wakes=T0 + 500), False, True, id="backing off five minutes is alive"),
        pytest.param(T0 + 3600, Beat(T0, wakes=T0 + 3590), False, True, id="any sleep is alive until its end"),
        pytest.param(T0 + 500 + grace(INTERVAL) + 1, Beat(T0 + 200, wakes=T0 + 500), False, False, id="a sleep overrun by the grace (wedged event loop)"),
        pytest.param(T0 + STEP + grace(INTERVAL) - 1, Beat(T0), False, True, id="a step within its worst case"),
        pytest.param(T0 + STEP + grace(INTERVAL) + 1, Beat(T0), False, False, id="a step longer than its worst case is stuck"),
        pytest.param(T0 + 5, Beat(T0, wakes=T0 + 10), True, False, id="the loop's task ended"),
    ],
)
def test_loop_problem(now: float, beat: Beat, ended: bool, healthy: bool) -> None:
    problem = loop_problem(now, T0, INTERVAL, STEP, beat, ended)
    assert (problem is None) is healthy, problem


def test_the_grace_is_three_intervals_and_at_least_a_minute() -> None:
    assert grace(1.0) == 60.0 and grace(30.0) == 90.0 and grace(120.0) == 360.0


@pytest.mark.parametrize("interval", [1.0, 30.0, 60.0, 600.0])
def test_backoff_doubles_and_is_bounded(interval: float) -> None:
    delays = [backoff(interval, failures) for failures in range(1, 200)]
    assert delays[0] == interval
    assert all(b >= a for a, b in zip(delays, delays[1:]))
    assert max(delays) == min(interval * 10, max(interval, 300.0))


def test_a_good_cycle_waits_the_rest_of_its_interval_a_failed_one_its_backoff() -> None:
    assert next_wait(30.0, 0, 12.0) == 18.0
    assert next_wait(30.0, 0, 45.0) == 0.0
    assert next_wait(30.0, 3, 12.0) == 120.0


@pytest.mark.asyncio
async def test_telemetry_is_healthy_while_the_loop_sleeps_longer_than_the_old_window_and_not_once_the_task_ended() -> None:
    telemetry = Telemetry(interval=1.0)

    async def loop() -> None:
        telemetry.sleeping(3600.0)  # a backoff far beyond three intervals
        await asyncio.sleep(3600.0)

    task = asyncio.create_task(loop())
    telemetry.loop_started(task, step_budget=10.0)
    await asyncio.sleep(0)
    # Ten minutes into the backoff: no cycle for far longer than three intervals, and alive.
    telemetry.started -= 600.0
    assert telemetry.last_beat is not None and telemetry.last_beat.wakes is not None
    telemetry.last_beat = Beat(telemetry.last_beat.at - 600.0, wakes=telemetry.last_beat.wakes - 600.0)
    assert telemetry.problem() is None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert telemetry.problem() == "the evaluation loop has ended"
    telemetry.stand_by()
    assert telemetry.healthy()
