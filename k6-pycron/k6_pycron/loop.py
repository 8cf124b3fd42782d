"""The main loop: launch due tasks in worker threads, never overlapping a task with itself."""

import logging
import signal
import threading
from pathlib import Path

from .clock import SystemClock
from .config import Config, Task
from .health import TaskBeat, write_heartbeat
from .push import PUSH_TIMEOUT
from .runner import Runner
from .timetable import Timetable

LOG = logging.getLogger("k6-pycron")
# Longest idle sleep: bounds how late a wall-clock step is noticed and how old the heartbeat gets.
MAX_SLEEP = 5.0


class Scheduler:
    """Owns the timetable, the worker threads and the heartbeat."""

    def __init__(self, config: Config, heartbeat: str | Path, clock: SystemClock | None = None):
        """Prepare per-task state; nothing runs until loop()."""
        self.config = config
        self.heartbeat = Path(heartbeat)
        self.clock = clock or SystemClock()
        self.stop_event = threading.Event()
        self.runner = Runner(config, self.stop_event)
        self.threads: dict[str, threading.Thread] = {}
        self.timetable: Timetable | None = None
        self.last_start: dict[str, float] = {}  # monotonic
        self.set_back_at_start: dict[str, float] = {}  # timetable.set_back at that start

    def request_stop(self, signum: int, _frame=None) -> None:
        """Signal handler: stop launching and make running tasks stop."""
        LOG.info("signal %s received: shutting down", signal.Signals(signum).name)
        self.stop_event.set()

    def start(self) -> None:
        """Begin the schedule now and log each task's first planned start."""
        self.timetable = Timetable(self.config.tasks, self.clock)
        started = self.clock.monotonic()
        for task in self.config.tasks:
            self.last_start[task.name] = started
            self.set_back_at_start[task.name] = 0.0
            LOG.info("scheduled task=%s next=%s", task.name,
                     self.clock.aware(self.timetable.next_run(task)).isoformat())

    def step(self) -> None:
        """One loop iteration: launch what is due, then write the heartbeat."""
        for task in self.timetable.due():
            self._launch(task)
        self.beat()

    def _launch(self, task: Task) -> None:
        """Start task in a worker thread unless its previous run is still going."""
        running = self.threads.get(task.name)
        if running is not None and running.is_alive():
            LOG.warning("run skipped task=%s reason=previous run still running", task.name)
            return
        self.last_start[task.name] = self.clock.monotonic()
        self.set_back_at_start[task.name] = self.timetable.set_back
        thread = threading.Thread(target=self._safe_run, args=(task,), name=f"task-{task.name}", daemon=True)
        self.threads[task.name] = thread
        thread.start()

    def _safe_run(self, task: Task) -> None:
        """Run a task in a worker thread; an unexpected error is logged, not fatal."""
        try:
            self.runner.run(task)
        except Exception:  # noqa: BLE001 -- one bad run must not kill the scheduler
            LOG.exception("run crashed task=%s", task.name)

    def allowed_gap(self, task: Task) -> float:
        """Longest healthy time between two starts of task: its period, plus local time lived twice
        since its last start (backward steps, DST ending), plus its timeout, kill grace and pushes
        (a run overlapping the next slot makes the task skip it)."""
        # Interval tasks run on the monotonic clock: local time lived twice does not delay them.
        lived_twice = self.timetable.set_back - self.set_back_at_start[task.name] if task.cron else 0.0
        slack = task.timeout + self.config.kill_grace_seconds + 2 * PUSH_TIMEOUT
        return self.timetable.period(task) + lived_twice + slack

    def beat(self) -> None:
        """Write the heartbeat: the loop's time and, per task, its last start and allowed gap."""
        tasks = {t.name: TaskBeat(self.last_start[t.name], self.allowed_gap(t)) for t in self.config.tasks}
        try:
            write_heartbeat(self.heartbeat, self.clock.monotonic(), tasks)
        except OSError as exc:
            LOG.warning("cannot write heartbeat %s: %s", self.heartbeat, exc)

    def loop(self) -> None:
        """Run until asked to stop, then wait for the running tasks."""
        self.start()
        while not self.stop_event.is_set():
            self.step()
            self.stop_event.wait(self.timetable.seconds_to_next_check(MAX_SLEEP))
        self._drain()

    def _drain(self) -> None:
        """Wait for worker threads, which stop their own process groups; remove the heartbeat."""
        # Each worker needs the grace period plus its pushes at most.
        deadline = self.clock.monotonic() + self.config.kill_grace_seconds + 2 * PUSH_TIMEOUT + 1
        for thread in self.threads.values():
            thread.join(max(0.0, deadline - self.clock.monotonic()))
        try:
            self.heartbeat.unlink()
        except OSError:
            pass
        LOG.info("scheduler stopped")
