"""Heartbeat and healthcheck: the real scheduler loop driven by a simulated clock, real runs, real files.

Healthy means the loop writes its heartbeat AND every task starts within its allowed gap; a stall
of either kind fails the check, through wall-clock steps and DST changes alike.
"""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from .helpers import SimulatedClock, config, health, loop, write_config

UTC = ZoneInfo("UTC")
MADRID = ZoneInfo("Europe/Madrid")
HOUR = 3600
MAX_AGE = 30.0


def _scheduler(tmp_path, clock, **schedule):
    """A real Scheduler on the simulated clock; its one task appends a line to `runs` per run."""
    runs = tmp_path / "runs"
    path = write_config(tmp_path / "c.yaml", [
        {"name": "t", **schedule, "timeout": 5, "command": ["sh", "-c", f"echo x >> {runs}"]}])
    scheduler = loop.Scheduler(config.load_config(path), tmp_path / "heartbeat", clock=clock)
    scheduler.start()
    return scheduler, runs


def _step_and_wait(scheduler):
    """One loop iteration, then wait for the runs it started (the clock stands still meanwhile)."""
    scheduler.step()
    for thread in scheduler.threads.values():
        thread.join(30)


def _problems(scheduler, clock):
    """What the healthcheck would report at the simulated monotonic time."""
    return health.problems(scheduler.heartbeat, MAX_AGE, clock.monotonic())


def _count(runs):
    """Number of runs recorded."""
    return len(runs.read_text().splitlines()) if runs.exists() else 0


# (id, zone, naive local start, schedule, {elapsed s: wall step s}, simulated s, reading every s, runs)
HEALTHY = [
    ("every-minute/back-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "* * * * *"}, {90: -HOUR}, 600, 5, 10),
    ("every-minute/forward-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "* * * * *"}, {90: HOUR}, 600, 5, 10),
    ("daily-1230/back-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "30 12 * * *"}, {2490: -HOUR}, 26 * HOUR,
     30, 2),
    ("daily-0230/madrid-spring", MADRID, datetime(2026, 3, 29, 1, 0, 30), {"cron": "30 2 * * *"}, {}, 26 * HOUR,
     30, 2),
    # 25 hours between the two runs: the local hour lived twice counts towards the allowed gap.
    ("daily-0230/madrid-fall", MADRID, datetime(2026, 10, 25, 1, 0, 30), {"cron": "30 2 * * *"}, {}, 27 * HOUR,
     30, 2),
    ("interval-60/back-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"interval": 60}, {90: -HOUR}, 600, 5, 10),
]


@pytest.mark.parametrize(("zone", "start", "schedule", "steps", "seconds", "tick", "runs_expected"),
                         [h[1:] for h in HEALTHY], ids=[h[0] for h in HEALTHY])
def test_healthy_through_clock_changes(tmp_path, zone, start, schedule, steps, seconds, tick, runs_expected):
    """Through steps and DST the tasks keep running and the healthcheck passes at every reading."""
    clock = SimulatedClock(start, zone)
    scheduler, runs = _scheduler(tmp_path, clock, **schedule)
    for elapsed in range(tick, seconds + 1, tick):
        clock.advance(tick)
        if elapsed in steps:
            clock.step_wall(steps[elapsed])
        _step_and_wait(scheduler)
        assert _problems(scheduler, clock) == [], (elapsed, clock.now_local())
    assert _count(runs) == runs_expected


@pytest.mark.parametrize("schedule", [{"cron": "* * * * *"}, {"interval": 60}], ids=["cron", "interval"])
def test_a_stalled_schedule_fails_although_the_heartbeat_is_fresh(tmp_path, schedule):
    """A loop that keeps beating but launches nothing is unhealthy once the task is overdue."""
    clock = SimulatedClock(datetime(2026, 3, 4, 12, 0, 30), UTC)
    scheduler, runs = _scheduler(tmp_path, clock, **schedule)
    for _ in range(24):  # two healthy minutes with runs
        clock.advance(5)
        _step_and_wait(scheduler)
    assert _count(runs) == 2 and _problems(scheduler, clock) == []
    allowed = scheduler.allowed_gap(scheduler.config.tasks[0])
    overdue_at = clock.monotonic() + allowed + MAX_AGE  # measured from the last start, which is earlier
    while clock.monotonic() <= overdue_at:
        clock.advance(5)
        scheduler.beat()  # the heartbeat stays fresh ...
    found = _problems(scheduler, clock)
    assert len(found) == 1 and found[0].startswith("task t has not started for")  # ... yet it is a stall
    assert _count(runs) == 2


def test_a_stuck_loop_fails(tmp_path):
    """A heartbeat older than max age fails the check, naming its age."""
    clock = SimulatedClock(datetime(2026, 3, 4, 12, 0, 30), UTC)
    scheduler, _ = _scheduler(tmp_path, clock, cron="* * * * *")
    scheduler.beat()
    clock.advance(MAX_AGE)
    assert _problems(scheduler, clock) == []
    clock.advance(1)
    assert _problems(scheduler, clock) == [f"heartbeat is 31s old (max {MAX_AGE:g}s): the loop is stuck"]


@pytest.mark.parametrize(("content", "message"), [
    (None, "no heartbeat at"),
    ("", "unreadable heartbeat at"),  # the old format: an empty file touched by the loop
    ("{", "unreadable heartbeat at"),
    (json.dumps({"monotonic": 1.0}), "unreadable heartbeat at"),
    (json.dumps({"monotonic": 1.0, "tasks": {"t": {"last_start_monotonic": 1.0}}}), "unreadable heartbeat at"),
], ids=["missing", "empty", "truncated", "no-tasks", "task-without-gap"])
def test_missing_or_unreadable_heartbeat_fails(tmp_path, content, message):
    """No heartbeat, or one that cannot be read, is unhealthy rather than an exception."""
    path = tmp_path / "heartbeat"
    if content is not None:
        path.write_text(content)
    [problem] = health.problems(path, MAX_AGE, 2.0)
    assert problem.startswith(message)
    assert health.check_health(path, MAX_AGE, 2.0) == 1


def test_heartbeat_file_shape(tmp_path):
    """The heartbeat is the documented JSON, replaced whole (no temporary file left beside it)."""
    path = tmp_path / "heartbeat"
    health.write_heartbeat(path, 12.5, {"t": health.TaskBeat(10.0, 95.0)})
    health.write_heartbeat(path, 13.5, {"t": health.TaskBeat(10.0, 95.0)})
    body = json.loads(path.read_text())
    assert body["monotonic"] == 13.5
    assert body["tasks"] == {"t": {"last_start_monotonic": 10.0, "allowed_gap_seconds": 95.0}}
    assert [p.name for p in tmp_path.iterdir()] == ["heartbeat"]
    assert health.check_health(path, MAX_AGE, 13.5 + MAX_AGE) == 0
    assert health.check_health(path, MAX_AGE, 10.0 + 95.0 + MAX_AGE + 1) == 1
