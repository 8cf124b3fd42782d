"""Shared fixtures for the k6-pycron tests: real processes, real k6, real Pushgateway."""

import os
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

from .helpers import PUSHGATEWAY_BIN, Pushgateway, SchedulerProcess, find_k6, free_port, group_members, wait_for


@pytest.fixture
def k6_bin():
    """The real k6 binary."""
    return find_k6()


@pytest.fixture
def base_env(tmp_path, k6_bin):
    """Environment for a scheduler subprocess: isolated heartbeat, real k6, no stray multiproc dir."""
    env = {k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")}
    env.update({"K6_BIN": k6_bin, "SCHEDULER_HEARTBEAT_FILE": str(tmp_path / "heartbeat"),
                "PUSHGATEWAY_URL": f"http://127.0.0.1:{free_port()}", "PYTHONUNBUFFERED": "1",
                "K6_NO_USAGE_REPORT": "true"})
    return env


@pytest.fixture
def task_groups():
    """Process group ids of task runs; whatever is left of them is killed at teardown."""
    groups = []
    yield groups
    for pgid in groups:
        for pid in group_members(pgid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def start_scheduler(tmp_path):
    """Factory: start scheduler.py with args and env; everything is killed at teardown."""
    started = []

    def _start(args, env):
        proc = SchedulerProcess(args, env, tmp_path / f"scheduler-{len(started)}.log")
        started.append(proc)
        return proc

    yield _start
    for proc in started:
        proc.cleanup()


@pytest.fixture
def pushgateway(tmp_path):
    """A real Pushgateway on a free loopback port, stopped at teardown."""
    if not os.access(PUSHGATEWAY_BIN, os.X_OK):
        pytest.fail(f"{PUSHGATEWAY_BIN} missing: apt-get install prometheus-pushgateway")
    port = free_port()
    log = open(tmp_path / "pushgateway.log", "wb")
    # Debian's build persists to /var/lib/prometheus/pushgateway.data by default: keep tests in memory.
    proc = subprocess.Popen([PUSHGATEWAY_BIN, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready():
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    try:
        if not wait_for(ready, 60):
            pytest.fail("pushgateway did not become ready: " + (tmp_path / "pushgateway.log").read_text())
        yield Pushgateway(url, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
