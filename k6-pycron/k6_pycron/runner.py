"""One run of one task: start it in its own session, supervise it, push a k6 run's results."""

import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time

from .config import Config, Task
from .processes import supervise
from .push import fetch_last_success, push_results
from .summary import parse_summary

LOG = logging.getLogger("k6-pycron")


def k6_argv(task: Task, summary_path: str) -> list[str]:
    """The argv of a k6 task run writing its summary to summary_path (k6 binary: $K6_BIN or k6)."""
    k6 = os.environ.get("K6_BIN", "k6")
    # No usage report: k6 would otherwise phone home to Grafana on every run.
    return [k6, "run", "--quiet", "--no-color", "--no-usage-report", f"--summary-export={summary_path}",
            *task.k6.args, task.k6.script]


class Runner:
    """Runs tasks and pushes k6 results; remembers each task's last success time."""

    def __init__(self, config: Config, stop_event: threading.Event):
        """Keep the config and the shared shutdown flag."""
        self.config = config
        self.stop_event = stop_event
        self.last_success: dict[str, float | None] = {}

    def run(self, task: Task) -> int:
        """Run task to completion (or timeout/shutdown) and return its exit code (-N: signal N)."""
        workdir = tempfile.mkdtemp(prefix=f"k6-pycron-{task.name}-") if task.is_k6 else None
        summary = os.path.join(workdir, "summary.json") if workdir else None
        argv = k6_argv(task, summary) if task.is_k6 else task.command
        started = time.monotonic()
        try:
            code, outcome = self._execute(task, argv)
            duration = time.monotonic() - started
            LOG.info("run end task=%s exit=%s outcome=%s duration=%.3fs", task.name, code, outcome, duration)
            if task.is_k6 and outcome != "stopped":
                self._report(task, code, duration, summary)
            elif task.is_k6:
                # A run cut short by our own shutdown says nothing about the system under test.
                LOG.info("push skipped task=%s reason=shutdown", task.name)
            return code
        finally:
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)

    def _execute(self, task: Task, argv: list[str]) -> tuple[int, str]:
        """Start argv in its own session and supervise it; return (exit code, outcome)."""
        try:
            proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL)
        except OSError as exc:
            LOG.error("run failed to start task=%s argv=%s error=%s", task.name, argv[0], exc)
            return 127, "not_started"
        LOG.info("run start task=%s pid=%d timeout=%gs", task.name, proc.pid, task.timeout)
        outcome = supervise(proc, task.timeout, self.config.kill_grace_seconds, self.stop_event)
        return proc.returncode, outcome

    def _report(self, task: Task, code: int, duration: float, summary: str) -> None:
        """Push one k6 run's results, carrying the last success time across failures."""
        now = time.time()
        values = {"success": 1.0 if code == 0 else 0.0, "exit_code": float(code),
                  "run_duration_seconds": duration, "last_run_timestamp_seconds": now}
        parsed = parse_summary(summary)
        if parsed is None:
            LOG.warning("k6 summary missing or unreadable task=%s", task.name)
        else:
            values.update(parsed)
        if code == 0:
            self.last_success[task.name] = now
        elif self.last_success.get(task.name) is None:
            # PUT replaces the whole group: after a restart, read the old value back rather than
            # erase it (retried on each failed run until found; omitted while unknown).
            self.last_success[task.name] = fetch_last_success(task.name)
        values["last_success_timestamp_seconds"] = self.last_success[task.name]
        push_results(task.name, values)
