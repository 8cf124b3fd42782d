"""Scheduling: cron next-run computation, interval repetition, no overlap, heartbeat."""

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from croniter import croniter

from .helpers import SCHEDULER, sched, wait_for, write_config


def _epoch(*args):
    """Epoch seconds of a local-time datetime (cron is evaluated in local time)."""
    return datetime(*args).astimezone().timestamp()


def _local(epoch):
    """Local datetime of an epoch value, for readable assertions."""
    return datetime.fromtimestamp(epoch)


# ---------------------------------------------------------------- unit: next-run computation


def test_cron_every_minute_is_next_whole_minute():
    """'* * * * *' fires at the next whole minute, strictly after now."""
    assert _local(sched.next_cron_time("* * * * *", _epoch(2026, 3, 4, 10, 15, 30))) == datetime(2026, 3, 4, 10, 16)
    # Exactly on a match, the next run is the following minute, not now again.
    assert _local(sched.next_cron_time("* * * * *", _epoch(2026, 3, 4, 10, 16))) == datetime(2026, 3, 4, 10, 17)


def test_cron_steps_ranges_and_month_rollover():
    """Steps, ranges and rollover into the next month and year."""
    assert _local(sched.next_cron_time("*/15 * * * *", _epoch(2026, 3, 4, 10, 46))) == datetime(2026, 3, 4, 11, 0)
    assert _local(sched.next_cron_time("30 9-17 * * *", _epoch(2026, 3, 4, 17, 31))) == datetime(2026, 3, 5, 9, 30)
    assert _local(sched.next_cron_time("0 0 1 * *", _epoch(2026, 12, 15))) == datetime(2027, 1, 1)


def test_cron_day_of_week_zero_is_sunday():
    """Day-of-week 0 means Sunday, as in cron (APScheduler's from_crontab gets this wrong)."""
    # 2026-03-04 is a Wednesday; the next Sunday is 2026-03-08.
    nxt = _local(sched.next_cron_time("0 6 * * 0", _epoch(2026, 3, 4, 12)))
    assert nxt == datetime(2026, 3, 8, 6, 0) and nxt.weekday() == 6


def test_next_due_matches_croniter_for_cron_tasks():
    """next_due for a cron task is croniter's answer from the current time."""
    task = sched.Task(name="c", timeout=1, command=["true"], cron="7 */2 * * 1-5")
    now = _epoch(2026, 5, 1, 23, 59, 59)  # a Friday night: next is Monday 00:07
    expected = croniter("7 */2 * * 1-5", datetime.fromtimestamp(now).astimezone()).get_next(datetime)
    assert sched.next_due(task, now) == expected.timestamp()
    assert _local(sched.next_due(task, now)) == datetime(2026, 5, 4, 0, 7)


def test_next_due_interval_keeps_rate_and_skips_missed_slots():
    """Interval tasks keep a fixed rate and never burst to catch up after a stall."""
    task = sched.Task(name="i", timeout=1, command=["true"], interval=10)
    assert sched.next_due(task, 100.0) == 110.0
    assert sched.next_due(task, 110.2, previous=110.0) == 120.0
    # Stalled for 35 s past the due time: the next slot is in the future, on the original grid.
    assert sched.next_due(task, 145.0, previous=110.0) == 150.0
    assert sched.next_due(task, 150.0, previous=110.0) == 160.0


# ---------------------------------------------------------------- real processes


def _lines(path):
    """Non-empty lines of a file, or [] if it does not exist yet."""
    return [line for line in path.read_text().splitlines() if line] if path.exists() else []


def test_interval_task_runs_repeatedly(tmp_path, base_env, start_scheduler):
    """An interval task runs again and again, about once per interval."""
    runs = tmp_path / "runs"
    config = write_config(tmp_path / "c.yaml", [
        {"name": "tick", "interval": 0.3, "timeout": 5, "command": ["sh", "-c", f"date +%s.%N >> {runs}"]}])
    started = time.time()
    proc = start_scheduler(["--config", str(config)], base_env)
    assert wait_for(lambda: len(_lines(runs)) >= 4, 10), proc.output()
    elapsed = time.time() - started
    stamps = [float(x) for x in _lines(runs)[:4]]
    # First run one interval after start, then roughly every 0.3 s (not all at once).
    assert stamps[0] - started >= 0.25
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(0.15 < gap < 1.0 for gap in gaps), gaps
    assert elapsed < 5
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert proc.output().count("run end task=tick exit=0") >= 4


def test_cron_task_first_run_is_croniter_next(tmp_path, base_env, start_scheduler):
    """The scheduler plans a cron task for croniter's next time, and does not run it before."""
    expr = "0 0 1 1 *"  # once a year: must not run during the test
    runs = tmp_path / "runs"
    config = write_config(tmp_path / "c.yaml", [
        {"name": "yearly", "cron": expr, "timeout": 5, "command": ["sh", "-c", f"echo x >> {runs}"]}])
    before = datetime.now().astimezone()
    proc = start_scheduler(["--config", str(config)], base_env)
    match = wait_for(lambda: re.search(r"scheduled task=yearly next=(\S+)", proc.output()), 10)
    after = datetime.now().astimezone()
    assert match, proc.output()
    planned = datetime.fromisoformat(match.group(1))
    expected = {croniter(expr, t).get_next(datetime) for t in (before, after)}
    assert planned in expected
    time.sleep(1)
    assert not runs.exists() and "run start" not in proc.output()
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_no_overlap_with_itself(tmp_path, base_env, start_scheduler):
    """A run longer than the interval is never started twice at once; the slots in between are skipped."""
    starts, overlap, lock = tmp_path / "starts", tmp_path / "overlap", tmp_path / "lock"
    script = (f"if [ -e {lock} ]; then echo $$ >> {overlap}; fi; touch {lock}; echo $$ >> {starts}; "
              f"sleep 1; rm -f {lock}")
    config = write_config(tmp_path / "c.yaml", [
        {"name": "slow", "interval": 0.2, "timeout": 10, "command": ["sh", "-c", script]}])
    proc = start_scheduler(["--config", str(config)], base_env)
    assert wait_for(lambda: len(_lines(starts)) >= 1, 10)
    time.sleep(0.8)
    # Four or so slots passed during the first run: none of them started a second copy.
    assert len(_lines(starts)) == 1
    assert "run skipped task=slow reason=previous run still running" in proc.output()
    # Once the first run ends, the task runs again.
    assert wait_for(lambda: len(_lines(starts)) >= 2, 5), proc.output()
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not overlap.exists(), "two runs of the same task overlapped"
    assert len(set(_lines(starts))) == len(_lines(starts))


def test_heartbeat_and_healthcheck(tmp_path, base_env, start_scheduler):
    """The loop keeps a heartbeat file fresh; --healthcheck passes on it and fails when stale or absent."""
    heartbeat = tmp_path / "heartbeat"
    config = write_config(tmp_path / "c.yaml", [
        {"name": "idle", "interval": 0.5, "timeout": 5, "command": ["true"]}])
    proc = start_scheduler(["--config", str(config)], base_env)

    def health():
        return subprocess.run([sys.executable, str(SCHEDULER), "--healthcheck"], env=base_env,
                              capture_output=True, text=True, timeout=20)

    assert wait_for(heartbeat.exists, 10)
    assert health().returncode == 0
    old = time.time() - 120
    os.utime(heartbeat, (old, old))
    stale = health()
    assert stale.returncode == 1 and "heartbeat is" in stale.stderr
    # Every loop iteration refreshes it (an idle loop still wakes every MAX_SLEEP seconds).
    assert wait_for(lambda: health().returncode == 0, sched.MAX_SLEEP + 3, interval=0.3)
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not heartbeat.exists()
    missing = health()
    assert missing.returncode == 1 and "no heartbeat" in missing.stderr


def test_cron_uses_local_time_of_process(tmp_path):
    """Sanity check of the helper itself: a UTC timestamp maps to the same cron slot in UTC."""
    # Pins down that next_cron_time returns an absolute epoch, independent of the local zone.
    now = datetime(2026, 6, 1, 12, 0, 30, tzinfo=timezone.utc).timestamp()
    nxt = sched.next_cron_time("* * * * *", now)
    assert nxt - now == 30
    assert datetime.fromtimestamp(nxt, timezone.utc) == datetime(2026, 6, 1, 12, 1, tzinfo=timezone.utc)
    assert timedelta(seconds=nxt - now) < timedelta(minutes=1)
