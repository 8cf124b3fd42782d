"""The timetable under a simulated clock: cron tasks as cron runs them on the local wall clock,
interval tasks on the monotonic clock, through wall-clock steps and DST changes.

Only the clock is simulated (the clock interface's readings); the timetable is the real one.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from .helpers import SimulatedClock, config, timetable

UTC = ZoneInfo("UTC")
MADRID = ZoneInfo("Europe/Madrid")  # CET/CEST: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00
HOUR = 3600


def _task(name="t", **schedule):
    """A validated task with the given cron or interval."""
    return config.Task(name=name, timeout=1, command=["true"], **schedule)


def drive(tasks, clock, seconds, steps=None, tick=5):
    """Read the timetable every `tick` s of simulated time for `seconds`; `steps` maps an elapsed
    second to a wall-clock step applied just before that reading. Return the starts as
    [(local ISO time with offset, task name)]."""
    table = timetable.Timetable(tasks, clock)
    steps = steps or {}
    starts = []
    for elapsed in range(tick, seconds + 1, tick):
        clock.advance(tick)
        if elapsed in steps:
            clock.step_wall(steps[elapsed])
        for task in table.due():
            starts.append((clock.aware(clock.wall()).isoformat(timespec="seconds"), task.name))
    return starts


def _minutes(first, count, offset="+00:00"):
    """ISO times of `count` whole minutes from naive local `first`, with a fixed UTC offset."""
    return [(first + timedelta(minutes=i)).isoformat() + offset for i in range(count)]


# (id, zone, naive local start, schedule, {elapsed s: wall step s}, simulated s, expected start times)
SCENARIOS = [
    # The issue: a backward step of one hour must not stall an every-minute task for an hour.
    ("every-minute/back-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "* * * * *"}, {90: -HOUR}, 600,
     _minutes(datetime(2026, 3, 4, 12, 1), 1) + _minutes(datetime(2026, 3, 4, 11, 2), 9)),
    # Forward: the new minute runs once; the hour skipped is not burst.
    ("every-minute/forward-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "* * * * *"}, {90: HOUR}, 600,
     _minutes(datetime(2026, 3, 4, 12, 1), 1) + _minutes(datetime(2026, 3, 4, 13, 2), 9)),
    # Forward by two minutes (woke late): one start, not three.
    ("every-minute/forward-2min", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "* * * * *"}, {90: 120}, 300,
     _minutes(datetime(2026, 3, 4, 12, 1), 1) + _minutes(datetime(2026, 3, 4, 12, 4), 4)),
    # A fixed-time task (minute and hour fixed) does not repeat the slot it ran in the hour lived twice ...
    ("daily-1230/back-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "30 12 * * *"}, {2490: -HOUR}, 3 * HOUR,
     ["2026-03-04T12:30:00+00:00"]),
    # ... and runs the slot skipped by a forward step once, at the step.
    ("daily-1230/forward-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "30 12 * * *"}, {870: HOUR}, 2 * HOUR,
     ["2026-03-04T13:15:00+00:00"]),
    # A step of more than 3 hours starts over: nothing is caught up, a slot lived twice runs twice.
    ("daily-1230/forward-5h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "30 12 * * *"}, {870: 5 * HOUR}, HOUR,
     []),
    ("daily-1230/back-5h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "30 12 * * *"}, {2490: -5 * HOUR}, 6 * HOUR,
     ["2026-03-04T12:30:00+00:00", "2026-03-04T12:30:00+00:00"]),
    # An hour field of '*' makes a "wildcard" task, as in cron: it runs when the current minute matches,
    # so in the hour lived twice too, and it does not catch up a slot stepped over.
    ("hourly-30/back-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "30 * * * *"}, {2490: -HOUR}, 3 * HOUR,
     ["2026-03-04T12:30:00+00:00", "2026-03-04T12:30:00+00:00", "2026-03-04T13:30:00+00:00"]),
    ("hourly-30/forward-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"cron": "30 * * * *"}, {870: HOUR}, 2 * HOUR,
     ["2026-03-04T13:30:00+00:00", "2026-03-04T14:30:00+00:00"]),
    # DST starts in Madrid: 02:30 does not exist; cron runs it at 03:00 CEST. Every-minute: no burst.
    ("madrid-spring/daily-0230", MADRID, datetime(2026, 3, 29, 1, 0, 30), {"cron": "30 2 * * *"}, {}, 2 * HOUR,
     ["2026-03-29T03:00:00+02:00"]),
    ("madrid-spring/every-minute", MADRID, datetime(2026, 3, 29, 1, 55, 30), {"cron": "* * * * *"}, {}, 600,
     _minutes(datetime(2026, 3, 29, 1, 56), 4, "+01:00") + _minutes(datetime(2026, 3, 29, 3, 0), 6, "+02:00")),
    # DST ends in Madrid: 02:00-02:59 is lived twice; 02:30 runs once, every-minute runs throughout.
    ("madrid-fall/daily-0230", MADRID, datetime(2026, 10, 25, 1, 0, 30), {"cron": "30 2 * * *"}, {}, 3 * HOUR,
     ["2026-10-25T02:30:00+02:00"]),
    ("madrid-fall/every-minute", MADRID, datetime(2026, 10, 25, 2, 55, 30), {"cron": "* * * * *"}, {}, 600,
     _minutes(datetime(2026, 10, 25, 2, 56), 4, "+02:00") + _minutes(datetime(2026, 10, 25, 2, 0), 6, "+01:00")),
    # Interval tasks follow the monotonic clock: wall steps change nothing.
    ("interval-60/back-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"interval": 60}, {90: -HOUR}, 600,
     _minutes(datetime(2026, 3, 4, 12, 1, 30), 1)
     + [f"2026-03-04T11:{m:02d}:30+00:00" for m in range(2, 11)]),
    ("interval-60/forward-1h", UTC, datetime(2026, 3, 4, 12, 0, 30), {"interval": 60}, {90: HOUR}, 600,
     _minutes(datetime(2026, 3, 4, 12, 1, 30), 1)
     + [f"2026-03-04T13:{m:02d}:30+00:00" for m in range(2, 11)]),
    ("interval-60/madrid-fall", MADRID, datetime(2026, 10, 25, 2, 57, 0), {"interval": 60}, {}, 300,
     _minutes(datetime(2026, 10, 25, 2, 58), 2, "+02:00") + _minutes(datetime(2026, 10, 25, 2, 0), 3, "+01:00")),
]


@pytest.mark.parametrize(("zone", "start", "schedule", "steps", "seconds", "expected"),
                         [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_clock_scenarios(zone, start, schedule, steps, seconds, expected):
    """Each scenario starts the task exactly at the listed local times, no more, no fewer."""
    clock = SimulatedClock(start, zone)
    starts = drive([_task(**schedule)], clock, seconds, steps)
    assert [when for when, _ in starts] == expected


def test_every_minute_keeps_running_for_an_hour_after_a_backward_step():
    """The issue's case, measured over the whole hour lived twice: one start per minute, none lost."""
    clock = SimulatedClock(datetime(2026, 3, 4, 12, 0, 30), UTC)
    starts = drive([_task(cron="* * * * *")], clock, 2 * HOUR, {90: -HOUR})
    times = [when for when, _ in starts]
    assert len(times) == 120  # 12:01, then 11:02 to 13:00 by the stepped clock
    # Only 12:01 comes twice (before the step, and when the clock gets there again).
    assert [t for t in set(times) if times.count(t) > 1] == ["2026-03-04T12:01:00+00:00"]


@pytest.mark.parametrize(("expr", "expected"), [
    ("30 12 * * *", datetime(2026, 3, 5, 12, 30)),  # fixed-time: 12:30 already ran today, held back
    ("* * * * *", datetime(2026, 3, 4, 11, 43)),  # wildcard: the next minute of the stepped clock
], ids=["fixed-time", "wildcard"])
def test_next_run_after_a_backward_step(expr, expected):
    """The planned start after a backward step is what the timetable will do (scenarios above)."""
    clock = SimulatedClock(datetime(2026, 3, 4, 12, 0, 30), UTC)
    table = timetable.Timetable([_task(cron=expr)], clock)
    for elapsed in range(5, 2491, 5):
        clock.advance(5)
        if elapsed == 2490:
            clock.step_wall(-HOUR)
        table.due()
    assert clock.local(table.next_run(table.tasks[0])) == expected


def test_tasks_are_independent_and_in_config_order():
    """Several tasks due in the same minute each start once, in config order."""
    clock = SimulatedClock(datetime(2026, 3, 4, 12, 59, 30), UTC)
    tasks = [_task("b", cron="0 * * * *"), _task("a", cron="* * * * *"), _task("c", cron="5 * * * *")]
    assert drive(tasks, clock, 60) == [("2026-03-04T13:00:00+00:00", "b"), ("2026-03-04T13:00:00+00:00", "a")]


@pytest.mark.parametrize(("expr", "now", "expected"), [
    ("* * * * *", datetime(2026, 3, 4, 10, 15, 30), datetime(2026, 3, 4, 10, 16)),
    ("* * * * *", datetime(2026, 3, 4, 10, 16), datetime(2026, 3, 4, 10, 17)),  # strictly after now
    ("*/15 * * * *", datetime(2026, 3, 4, 10, 46), datetime(2026, 3, 4, 11, 0)),
    ("30 9-17 * * *", datetime(2026, 3, 4, 17, 31), datetime(2026, 3, 5, 9, 30)),
    ("0 0 1 * *", datetime(2026, 12, 15), datetime(2027, 1, 1)),
    ("0 6 * * 0", datetime(2026, 3, 4, 12), datetime(2026, 3, 8, 6)),  # 0 is Sunday, as in cron
    ("0 6 1 * 0", datetime(2026, 3, 4, 12), datetime(2026, 3, 8, 6)),  # day-of-month OR day-of-week
    ("7 */2 * * 1-5", datetime(2026, 5, 1, 23, 59, 59), datetime(2026, 5, 4, 0, 7)),  # Friday -> Monday
], ids=lambda v: str(v))
def test_next_run_is_the_next_matching_local_minute(expr, now, expected):
    """The planned start is the first local minute after now matching the expression."""
    clock = SimulatedClock(now, MADRID)
    table = timetable.Timetable([_task(cron=expr)], clock)
    assert clock.local(table.next_run(table.tasks[0])) == expected


def test_next_interval_run_is_one_interval_after_start():
    """An interval task is planned one interval after the timetable starts, on any wall clock."""
    clock = SimulatedClock(datetime(2026, 3, 4, 12, 0, 0), UTC)
    table = timetable.Timetable([_task(interval=90)], clock)
    clock.step_wall(-HOUR)
    assert clock.local(table.next_run(table.tasks[0])) == datetime(2026, 3, 4, 11, 1, 30)


@pytest.mark.parametrize(("expr", "at", "seconds"), [
    ("* * * * *", datetime(2026, 3, 4, 12, 0, 30), 60),
    ("30 * * * *", datetime(2026, 3, 4, 12, 0, 30), HOUR),
    ("0 9 * * 1-5", datetime(2026, 3, 6, 10, 0, 0), 72 * HOUR),  # Friday 09:00 -> Monday 09:00
], ids=["every-minute", "hourly", "weekdays-over-weekend"])
def test_period_is_the_gap_around_now(expr, at, seconds):
    """A cron task's period is the local-time gap between its latest slot and its next one."""
    clock = SimulatedClock(at, UTC)
    table = timetable.Timetable([_task(cron=expr)], clock)
    assert table.period(table.tasks[0]) == seconds


@pytest.mark.parametrize(("steps", "zone", "start", "expected"), [
    ({30: -HOUR}, UTC, datetime(2026, 3, 4, 12, 0, 0), HOUR),
    ({30: HOUR}, UTC, datetime(2026, 3, 4, 12, 0, 0), 0),
    ({30: -HOUR, 60: -120}, UTC, datetime(2026, 3, 4, 12, 0, 0), HOUR + 120),
    ({}, MADRID, datetime(2026, 10, 25, 2, 55, 0), HOUR),  # DST ending lives 02:00-02:59 twice
    ({}, MADRID, datetime(2026, 3, 29, 1, 55, 0), 0),  # DST starting lives nothing twice
], ids=["back-1h", "forward-1h", "back-twice", "madrid-fall", "madrid-spring"])
def test_set_back_counts_local_time_lived_twice(steps, zone, start, expected):
    """set_back adds up every backward move of local time against the monotonic clock."""
    clock = SimulatedClock(start, zone)
    table = timetable.Timetable([_task(cron="* * * * *")], clock)
    for elapsed in range(5, 1200, 5):
        clock.advance(5)
        if elapsed in steps:
            clock.step_wall(steps[elapsed])
        table.due()
    assert table.set_back == pytest.approx(expected)


@pytest.mark.parametrize(("wall_second", "slots", "expected"), [
    (10.0, {}, 5.0),  # capped
    (57.5, {}, 2.501),  # the next minute comes first
    (10.0, {"i": 1.25}, 1.25),  # the next interval slot comes first
])
def test_sleep_until_next_check(wall_second, slots, expected):
    """The loop sleeps until the next local minute or interval slot, at most the cap."""
    clock = SimulatedClock(datetime(2026, 3, 4, 12, 0, 0) + timedelta(seconds=wall_second), UTC)
    tasks = [_task("i", interval=slots["i"])] if slots else [_task(cron="* * * * *")]
    table = timetable.Timetable(tasks, clock)
    assert table.seconds_to_next_check(5.0) == pytest.approx(expected)
