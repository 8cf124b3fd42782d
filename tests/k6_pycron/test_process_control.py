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
    assert wait_for(lambda: path.exists() and path.read_text().strip(), 60), "task never started"
    pgid = int(path.read_text())
    task_groups.append(pgid)
    return pgid


def test_once_returns_the_command_exit_code(tmp_path, base_env):
    """--once runs the task now and exits with its exit code."""
    config = write_config(tmp_path / "c.yaml", [
        {"name": "three", "interval": 3600, "timeout": 5, "command": ["sh", "-c", "echo hello; exit 3"]}])
    result = run_scheduler(["--config", str(config), "--once", "three"], base_env, timeout=60)
    assert result.returncode == 3
    assert "hello" in result.stdout
    assert "run start task=three" in result.stdout and "run end task=three exit=3" in result.stdout
    assert re.search(r"run end task=three exit=3 outcome=ok duration=\d+\.\d+s", result.stdout)


def test_missing_command_is_logged_not_fatal(tmp_path, base_env):
    """A command that cannot be started is logged as exit 127."""
    config = write_config(tmp_path / "c.yaml", [
        {"name": "ghost", "interval": 3600, "timeout": 5, "command": ["/nonexistent/bin"]}])
    result = run_scheduler(["--config", str(config), "--once", "ghost"], base_env, timeout=60)
    assert result.returncode == 127
    assert "run failed to start task=ghost" in result.stdout


# (script, kill_grace_seconds, exit code): a polite group ends on SIGTERM, long before a 60 s grace
# period would expire; a stubborn one is SIGKILLed once its 1 s grace period is over.
STOPS = [(FAMILY, 60, 128 + signal.SIGTERM), (STUBBORN, 1, 128 + signal.SIGKILL)]


@pytest.mark.parametrize(("script", "grace", "code"), STOPS, ids=["sigterm-suffices", "needs-sigkill"])
def test_timeout_kills_the_whole_process_group(tmp_path, base_env, start_scheduler, task_groups, script, grace,
                                               code):
    """Past its timeout a run's process group gets SIGTERM, then SIGKILL after the grace period."""
    pgid_file = tmp_path / "pgid"
    config = write_config(tmp_path / "c.yaml", [
        {"name": "sleepy", "interval": 3600, "timeout": 0.7,
         "command": ["sh", "-c", script.format(pgid=pgid_file)]}], kill_grace_seconds=grace)
    started = time.monotonic()
    proc = start_scheduler(["--config", str(config), "--once", "sleepy"], base_env)
    pgid = _pgid(pgid_file, task_groups)
    assert len(group_members(pgid)) >= 2  # the shell and its sleeps
    # Well before the 30 s sleeps end; for the polite group, well before its 60 s grace period.
    assert proc.wait(25) == code, proc.output()
    assert group_members(pgid) == []
    assert "outcome=timeout" in proc.output()
    if code == 128 + signal.SIGKILL:
        # SIGKILL only after the timeout and the whole grace period (lower bounds: no race).
        assert time.monotonic() - started >= 0.7 + grace


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize(("script", "grace", "code"), STOPS, ids=["polite-child", "stubborn-child"])
def test_signal_stops_cleanly(tmp_path, base_env, start_scheduler, task_groups, sig, script, grace, code):
    """On SIGTERM/SIGINT the scheduler stops launching, ends its children's groups and exits 0."""
    pgid_file = tmp_path / "pgid"
    config = write_config(tmp_path / "c.yaml", [
        {"name": "busy", "interval": 0.2, "timeout": 120, "command": ["sh", "-c", script.format(pgid=pgid_file)]}],
        kill_grace_seconds=grace)
    proc = start_scheduler(["--config", str(config)], base_env)
    pgid = _pgid(pgid_file, task_groups)
    assert group_members(pgid)
    proc.proc.send_signal(sig)
    # The polite child ends on SIGTERM: exit well before its 60 s grace period would.
    assert proc.wait(25) == 0, proc.output()
    assert group_members(pgid) == []
    out = proc.output()
    assert f"signal {sig.name} received" in out and "scheduler stopped" in out
    assert f"run end task=busy exit={128 - code} outcome=stopped" in out
    assert out.count("run start task=busy") == 1
