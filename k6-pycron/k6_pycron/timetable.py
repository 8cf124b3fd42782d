"""Which task is due when: cron tasks on the local wall clock as cron does, interval tasks on the
monotonic clock.

Cron tasks follow Vixie cron's rules for a wall clock that moves other than one minute at a time
(vixie/cron cron.c, main loop: "virtualTime" and its four "timejump" cases; cronie and Debian's cron
derive from it). The local time is read in whole minutes; ``virtual`` is the last local minute
whose tasks have run. When the current minute differs from the previous reading by:

- +1 (the normal case): run the tasks matching the current minute;
- +2..+5 minutes (woke late): run the tasks matching any minute skipped;
- +6 minutes..+3 hours (a forward step, DST starting): run wildcard tasks (minute or hour field
  starting with ``*``) matching the current minute, and fixed-time tasks matching any minute skipped,
  so 02:30 still runs, at 03:00, on the night DST starts;
- 0 or back up to 3 hours (a backward step, DST ending): run wildcard tasks matching the current
  minute, so ``* * * * *`` keeps running every minute; fixed-time tasks do not repeat minutes that
  already ran: ``virtual`` stays put until the clock catches up with it;
- more than 3 hours either way: start over from the current minute (nothing is caught up).

Unlike cron, a task runs at most once per reading even when several skipped minutes match it:
a step never bursts. Interval tasks ignore the wall clock: they run every ``interval`` seconds of
the monotonic clock, first one interval after start; slots missed (the process was stopped, a run
overran) are skipped, not caught up.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter

from .clock import SystemClock
from .config import Task

MINUTE = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1)
SMALL_STEP_MINUTES = 5  # cron.c: "timeDiff > 5" is a medium jump
LARGE_STEP_MINUTES = 3 * 60  # cron.c: beyond 3 hours either way the clock "jumped"


def minute_of(local: datetime) -> int:
    """Whole minutes from 1970-01-01 00:00 to a naive local date-time (a local-time minute count)."""
    return (local - _EPOCH) // MINUTE


def local_minute(minute: int) -> datetime:
    """The naive local date-time at the start of a local minute count."""
    return _EPOCH + minute * MINUTE


def is_wildcard(expr: str) -> bool:
    """Cron's "wildcard" job: its minute or hour field starts with '*' (cron's MIN_STAR|HR_STAR)."""
    minute, hour = expr.split()[:2]
    return minute.startswith("*") or hour.startswith("*")


def matches(expr: str, minute: int) -> bool:
    """True if the cron expression fires at the local minute (day-of-month/day-of-week OR-ed, as cron)."""
    return croniter.match(expr, local_minute(minute))


@dataclass
class _IntervalSlot:
    """Next monotonic time an interval task is due."""

    due: float


class Timetable:
    """Decides, each time the loop asks, which tasks are due; reads only the given clock."""

    def __init__(self, tasks: list[Task], clock: SystemClock):
        """Start the schedule now: nothing is due before the next minute / one interval from now."""
        self.tasks = list(tasks)
        self.clock = clock
        now = self._current_minute()
        self.virtual = now  # last local minute whose cron tasks have run
        self.seen = now  # local minute of the previous reading
        start = clock.monotonic()
        self.slots = {t.name: _IntervalSlot(start + t.interval) for t in self.tasks if t.interval}
        # Local time minus monotonic time; every drop of it (a backward step, DST ending) is added
        # to `set_back`, the seconds of local time lived twice so far.
        self._local_offset = self._local_seconds(clock.local(clock.wall())) - start
        self.set_back = 0.0

    @staticmethod
    def _local_seconds(local: datetime) -> float:
        """A naive local date-time in seconds since 1970-01-01 00:00 local."""
        return (local - _EPOCH).total_seconds()

    def _current_minute(self) -> int:
        """The current local minute count."""
        return minute_of(self.clock.local(self.clock.wall()))

    def due(self) -> list[Task]:
        """Tasks to start now, each at most once, in config order. Advances the timetable."""
        now = self.clock.monotonic()
        local = self.clock.local(self.clock.wall())
        offset = self._local_seconds(local) - now
        self.set_back += max(0.0, self._local_offset - offset)
        self._local_offset = offset
        names = self._due_intervals(now)
        current = minute_of(local)
        if current != self.seen:
            self.seen = current
            names |= self._due_crons(current)
        return [t for t in self.tasks if t.name in names]

    def _due_intervals(self, now: float) -> set[str]:
        """Interval tasks whose monotonic slot has come; move each to its next future slot."""
        due = set()
        for task in self.tasks:
            slot = self.slots.get(task.name)
            if slot is None or now < slot.due:
                continue
            due.add(task.name)
            # Skip missed slots (stopped process, overrun) on the original grid instead of bursting.
            missed = int((now - slot.due) // task.interval) + 1
            slot.due += missed * task.interval
        return due

    def _due_crons(self, current: int) -> set[str]:
        """Cron tasks due at local minute `current`, by cron's time-jump cases (module docstring)."""
        step = current - self.virtual
        crons = [t for t in self.tasks if t.cron]
        if step == 1 or abs(step) > LARGE_STEP_MINUTES:
            self.virtual = current
            return {t.name for t in crons if matches(t.cron, current)}
        wild_now = {t.name for t in crons if is_wildcard(t.cron) and matches(t.cron, current)}
        if step <= 0:
            return wild_now  # fixed-time tasks already ran for these minutes: virtual stays
        skipped = range(self.virtual + 1, current + 1)
        self.virtual = current
        if step <= SMALL_STEP_MINUTES:
            return {t.name for t in crons if any(matches(t.cron, m) for m in skipped)}
        fixed = {t.name for t in crons if not is_wildcard(t.cron) and any(matches(t.cron, m) for m in skipped)}
        return wild_now | fixed

    # ------------------------------------------------------------ what the loop and health report

    def next_run(self, task: Task) -> float:
        """Unix time of task's next planned start (as the clocks read now)."""
        if task.interval:
            return self.clock.wall() + self.slots[task.name].due - self.clock.monotonic()
        # After a backward step a fixed-time task waits for the clock to pass `virtual` again.
        after = self.seen if is_wildcard(task.cron) else max(self.virtual, self.seen)
        return self.clock.epoch(croniter(task.cron, local_minute(after)).get_next(datetime))

    def period(self, task: Task) -> float:
        """Seconds between the task's latest slot and its next one, in local time (an interval task:
        its interval). With `set_back` since its last start, the longest a healthy schedule leaves
        between two starts, before run time: the healthcheck's measure of a stall."""
        if task.interval:
            return task.interval
        here = local_minute(self._current_minute())
        previous = croniter(task.cron, here + MINUTE).get_prev(datetime)
        following = croniter(task.cron, here).get_next(datetime)
        return (following - previous).total_seconds()

    def seconds_to_next_check(self, cap: float) -> float:
        """How long the loop may sleep: to the next wall-clock minute or interval slot, at most cap."""
        wall = self.clock.wall()
        to_minute = 60.0 - wall % 60.0 + 0.001  # local minutes start on UTC minutes in every current zone
        now = self.clock.monotonic()
        to_slot = min((s.due - now for s in self.slots.values()), default=cap)
        return max(0.0, min(cap, to_minute, to_slot))
