"""The real scheduler process: interval repetition, cron planning, no overlap, healthcheck.

No assertion here depends on how fast a process starts: each waits for a condition (a file, a log
line, a healthcheck result) and fails only when it never comes; runs that must still be going are
held by a file the test controls, and a stopped loop is made with SIGSTOP.
"""

import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from .helpers import SCHEDULER, wait_for, write_config


def _lines(path):
    """Non-empty lines of a file, or [] if it does not exist yet."""
    return [line for line in path.read_text().splitlines() if line] if path.exists() else []


def _stop(proc):
    """SIGTERM the scheduler and require a clean exit."""
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.output()


def test_interval_task_runs_repeatedly(tmp_path, base_env, start_scheduler):
    """An interval task runs again and again, the first time one interval after start."""
    runs = tmp_path / "runs"
    config = write_config(tmp_path / "c.yaml", [
        {"name": "tick", "interval": 0.3, "timeout": 5, "command": ["sh", "-c", f"date +%s.%N >> {runs}"]}])
    started = time.time()  # before the scheduler exists, so before its clock starts
    proc = start_scheduler(["--config", str(config)], base_env)
    assert wait_for(lambda: len(_lines(runs)) >= 4, 60), proc.output()
    assert float(_lines(runs)[0]) - started >= 0.3
    _stop(proc)
    assert proc.output().count("run end task=tick exit=0") >= 4


@pytest.mark.parametrize("tz", [None, "Europe/Madrid", "America/New_York"], ids=["inherited", "madrid", "new-york"])
def test_cron_task_first_run_is_croniter_next(tmp_path, base_env, start_scheduler, tz):
    """The scheduler plans a cron task for croniter's next time in the process's zone (TZ), and does
    not run it before."""
    zone = ZoneInfo(tz) if tz else None
    env = {**base_env, "TZ": tz} if tz else base_env
    now = datetime.now(zone)
    # Twelve and a half hours away: it cannot come due while the test runs.
    expr = f"{(now.minute + 30) % 60} {(now.hour + 12) % 24} * * *"
    runs = tmp_path / "runs"
    config = write_config(tmp_path / "c.yaml", [
        {"name": "daily", "cron": expr, "timeout": 5, "command": ["sh", "-c", f"echo x >> {runs}"]}])
    before = datetime.now(zone).astimezone(zone)
    proc = start_scheduler(["--config", str(config)], env)
    match = wait_for(lambda: re.search(r"scheduled task=daily next=(\S+)", proc.output()), 60)
    after = datetime.now(zone).astimezone(zone)
    assert match, proc.output()
    planned = datetime.fromisoformat(match.group(1))
    expected = {croniter(expr, t).get_next(datetime) for t in (before, after)}
    assert planned in expected
    # Logged in the zone's own offset at that date (what a reader of the log expects).
    assert {planned.utcoffset()} <= {e.utcoffset() for e in expected}
    assert wait_for((tmp_path / "heartbeat").exists, 60)  # the loop has been through an iteration
    _stop(proc)
    assert not runs.exists() and "run start" not in proc.output()


def test_no_overlap_with_itself(tmp_path, base_env, start_scheduler):
    """A run that outlasts the interval is never started twice at once; its slots are skipped."""
    starts, overlap, lock, release = (tmp_path / n for n in ("starts", "overlap", "lock", "release"))
    # Each run holds the lock until the test creates `release`.
    script = (f"if [ -e {lock} ]; then echo $$ >> {overlap}; fi; touch {lock}; echo $$ >> {starts}; "
              f"while [ ! -e {release} ]; do sleep 0.05; done; rm -f {lock}")
    config = write_config(tmp_path / "c.yaml", [
        {"name": "slow", "interval": 0.2, "timeout": 120, "command": ["sh", "-c", script]}])
    proc = start_scheduler(["--config", str(config)], base_env)
    assert wait_for(lambda: len(_lines(starts)) >= 1, 60), proc.output()
    skipped = "run skipped task=slow reason=previous run still running"
    # A slot came while the first run is held: it was skipped, not started beside it.
    assert wait_for(lambda: skipped in proc.output(), 60), proc.output()
    assert len(_lines(starts)) == 1
    release.touch()
    # Once the first run ends, the task runs again.
    assert wait_for(lambda: len(_lines(starts)) >= 2, 60), proc.output()
    _stop(proc)
    assert not overlap.exists(), "two runs of the same task overlapped"
    assert len(set(_lines(starts))) == len(_lines(starts))


def test_heartbeat_and_healthcheck(tmp_path, base_env, start_scheduler):
    """--healthcheck passes while the loop runs, fails while it is frozen (SIGSTOP), passes again
    once it resumes, and fails when the heartbeat is gone."""
    heartbeat = tmp_path / "heartbeat"
    env = {**base_env, "HEARTBEAT_MAX_AGE": "1"}
    config = write_config(tmp_path / "c.yaml", [
        {"name": "idle", "interval": 0.5, "timeout": 5, "command": ["true"]}])
    proc = start_scheduler(["--config", str(config)], base_env)

    def health():
        return subprocess.run([sys.executable, str(SCHEDULER), "--healthcheck"], env=env,
                              capture_output=True, text=True, timeout=60)

    assert wait_for(lambda: health().returncode == 0, 60, interval=0.2), proc.output()
    proc.proc.send_signal(signal.SIGSTOP)  # the loop can no longer write: its heartbeat only ages
    try:
        stale = wait_for(lambda: (r := health()).returncode == 1 and r, 60, interval=0.2)
        assert stale and "the loop is stuck" in stale.stderr, stale and stale.stderr
    finally:
        proc.proc.send_signal(signal.SIGCONT)
    assert wait_for(lambda: health().returncode == 0, 60, interval=0.2), proc.output()
    _stop(proc)
    assert not heartbeat.exists()
    missing = health()
    assert missing.returncode == 1 and "no heartbeat" in missing.stderr
