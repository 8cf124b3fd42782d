"""Process control: exit codes, per-task timeout and clean shutdown, whole process groups."""

import re
import signal
import time

import pytest

from .helpers import group_members, run_scheduler, wait_for, write_config

# A task that records its process group id and leaves a background grandchild in that group.
FAMILY = "echo $$ > {pgid}; sleep 30 & sleep 30"
# The same, ignoring SIGTERM (inherited by the children): only SIGKILL ends it.
STUBBORN = "trap '' TERM; echo $$ > {pgid}; sleep 30 & sleep 30"


def _pgid(path, task_groups):
    """Process group id written by the task, once it is there (registered for cleanup)."""
    assert wait_for(lambda: path.exists() and path.read_text().strip(), 10), "task never started"
    pgid = int(path.read_text())
    task_groups.append(pgid)
    return pgid


def test_once_returns_the_command_exit_code(tmp_path, base_env):
    """--once runs the task now and exits with its exit code."""
    config = write_config(tmp_path / "c.yaml", [
        {"name": "three", "interval": 3600, "timeout": 5, "command": ["sh", "-c", "echo hello; exit 3"]}])
    result = run_scheduler(["--config", str(config), "--once", "three"], base_env, timeout=20)
    assert result.returncode == 3
    assert "hello" in result.stdout
    assert "run start task=three" in result.stdout and "run end task=three exit=3" in result.stdout
    assert re.search(r"run end task=three exit=3 outcome=ok duration=\d+\.\d+s", result.stdout)


def test_missing_command_is_logged_not_fatal(tmp_path, base_env):
    """A command that cannot be started is logged as exit 127."""
    config = write_config(tmp_path / "c.yaml", [
        {"name": "ghost", "interval": 3600, "timeout": 5, "command": ["/nonexistent/bin"]}])
    result = run_scheduler(["--config", str(config), "--once", "ghost"], base_env, timeout=20)
    assert result.returncode == 127
    assert "run failed to start task=ghost" in result.stdout


@pytest.mark.parametrize(("script", "code"), [(FAMILY, 128 + signal.SIGTERM), (STUBBORN, 128 + signal.SIGKILL)],
                         ids=["sigterm-suffices", "needs-sigkill"])
def test_timeout_kills_the_whole_process_group(tmp_path, base_env, start_scheduler, task_groups, script, code):
    """Past its timeout a run's process group gets SIGTERM, then SIGKILL after the grace period."""
    pgid_file = tmp_path / "pgid"
    config = write_config(tmp_path / "c.yaml", [
        {"name": "sleepy", "interval": 3600, "timeout": 0.7,
         "command": ["sh", "-c", script.format(pgid=pgid_file)]}], kill_grace_seconds=1)
    started = time.monotonic()
    proc = start_scheduler(["--config", str(config), "--once", "sleepy"], base_env)
    pgid = _pgid(pgid_file, task_groups)
    assert len(group_members(pgid)) >= 2  # the shell and its sleeps
    assert proc.wait(15) == code, proc.output()
    elapsed = time.monotonic() - started
    assert group_members(pgid) == []
    assert "outcome=timeout" in proc.output()
    # SIGTERM works at once (no wait for the grace period); an ignored SIGTERM costs the 1 s
    # grace period, not the 30 s sleep.
    if code == 128 + signal.SIGTERM:
        assert elapsed < 0.7 + 1
    else:
        assert 0.7 + 1 <= elapsed < 4


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("script", [FAMILY, STUBBORN], ids=["polite-child", "stubborn-child"])
def test_signal_stops_cleanly(tmp_path, base_env, start_scheduler, task_groups, sig, script):
    """On SIGTERM/SIGINT the scheduler stops launching, ends its children's groups and exits 0."""
    pgid_file = tmp_path / "pgid"
    config = write_config(tmp_path / "c.yaml", [
        {"name": "busy", "interval": 0.2, "timeout": 60, "command": ["sh", "-c", script.format(pgid=pgid_file)]}],
        kill_grace_seconds=1)
    proc = start_scheduler(["--config", str(config)], base_env)
    pgid = _pgid(pgid_file, task_groups)
    assert group_members(pgid)
    sent = time.monotonic()
    proc.proc.send_signal(sig)
    assert proc.wait(10) == 0, proc.output()
    # A polite child ends at once; a stubborn one costs the 1 s grace period.
    assert time.monotonic() - sent < (0.9 if script == FAMILY else 4)
    assert group_members(pgid) == []
    out = proc.output()
    assert f"signal {sig.name} received" in out and "scheduler stopped" in out
    assert out.count("run start task=busy") == 1

