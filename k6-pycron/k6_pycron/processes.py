"""Process groups: each run is its own session, stopped as a whole (SIGTERM, grace, SIGKILL)."""

import os
import signal
import subprocess
import threading
import time

POLL = 0.1  # seconds between checks while waiting for a run or a group


def kill_group(pgid: int, sig: int) -> None:
    """Send sig to a process group, ignoring a group that is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _live_in_group(pgid: int) -> bool | None:
    """True if /proc lists a non-zombie process in group pgid; None if /proc is unreadable."""
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def group_alive(pgid: int) -> bool:
    """True while a live process is left in the group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg also "finds" zombies: orphans re-parented to a PID 1 that never reaps them (this
    # scheduler, in a container without an init) would make every stop wait the full grace period.
    live = _live_in_group(pgid)
    return True if live is None else live


def stop_process_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM proc's process group, wait up to grace seconds, then SIGKILL whatever is left."""
    pgid = proc.pid  # start_new_session made the child its own group leader
    kill_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None and not group_alive(pgid):
            break
        time.sleep(POLL)
    # Unconditional: the leader may be gone while a grandchild that ignored SIGTERM lingers.
    kill_group(pgid, signal.SIGKILL)
    proc.wait()


def supervise(proc: subprocess.Popen, timeout: float, grace: float, stop_event: threading.Event) -> str:
    """Wait for proc; stop its group on timeout or shutdown. Return 'ok', 'timeout' or 'stopped'."""
    deadline = time.monotonic() + timeout
    while True:
        if stop_event.is_set():
            stop_process_group(proc, grace)
            return "stopped"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            stop_process_group(proc, grace)
            return "timeout"
        try:
            proc.wait(timeout=min(POLL, remaining))
            return "ok"
        except subprocess.TimeoutExpired:
            continue
