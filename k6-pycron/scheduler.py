"""Cron-like task scheduler for the "k6" service: runs commands and k6 smoke tests.

Config (YAML, default ``my_config.yaml`` beside this file, or env ``SCHEDULER_CONFIG``)::

    kill_grace_seconds: 5          # optional: SIGTERM -> SIGKILL delay
    tasks:
      - name: web_workflow         # [A-Za-z0-9_.-]+, also the Pushgateway "scenario" label
        cron: "* * * * *"          # 5-field cron (local time)  -- or --  interval: 30 (seconds)
        timeout: 50                # seconds
        k6:                        # a k6 run: results are pushed to the Pushgateway
          script: web_workflow_test.js   # relative paths are relative to the config file
          args: []                       # optional extra `k6 run` arguments
      - name: plain
        interval: 300
        timeout: 10
        command: ["sh", "-c", "echo hello"]   # a plain command: nothing is pushed

Environment: PUSHGATEWAY_URL (default http://pushgateway:9091), K6_BIN (default k6),
SCHEDULER_HEARTBEAT_FILE (default /tmp/k6-pycron.heartbeat), HEARTBEAT_MAX_AGE (default 30).
"""

import os

# prometheus_client chooses its value backend at import time: with this variable set it would
# write mmap files into a directory meant for the API's workers instead of keeping values in memory.
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
os.environ.pop("prometheus_multiproc_dir", None)

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402
from croniter import croniter  # noqa: E402
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

LOG = logging.getLogger("k6-pycron")
HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE / "my_config.yaml"
DEFAULT_HEARTBEAT = "/tmp/k6-pycron.heartbeat"
PUSH_JOB = "k6_smoke"
PREFIX = "k6_smoke_"
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
TOP_KEYS = {"tasks", "kill_grace_seconds"}
TASK_KEYS = {"name", "command", "k6", "cron", "interval", "timeout"}
K6_KEYS = {"script", "args"}
# Upper bound on one idle sleep, so the heartbeat stays fresh and wall-clock jumps are noticed.
MAX_SLEEP = 5.0
POLL = 0.1
PUSH_TIMEOUT = 5.0
EXIT_CONFIG = 2


class ConfigError(ValueError):
    """Raised for an invalid scheduler configuration."""


@dataclass
class Task:
    """One configured task."""

    name: str
    timeout: float
    command: list = field(default_factory=list)
    k6_script: str = ""
    k6_args: list = field(default_factory=list)
    cron: str = ""
    interval: float = 0.0

    @property
    def is_k6(self):
        """True when this task is a k6 run whose results are pushed."""
        return bool(self.k6_script)


@dataclass
class Config:
    """The whole validated configuration."""

    tasks: list
    kill_grace: float = 5.0


# ---------------------------------------------------------------- configuration


def _positive_number(value, where):
    """Return value as float if it is a positive finite number, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where} must be > 0, got {value!r}")
    return float(value)


def _string_list(value, where, allow_empty=False):
    """Return value if it is a list of strings, else raise."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings, got {value!r}")
    if not value and not allow_empty:
        raise ConfigError(f"{where} must not be empty")
    return list(value)


def _unknown_keys(mapping, allowed, where):
    """Raise if mapping has keys outside allowed."""
    unknown = sorted(str(k) for k in set(mapping) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _parse_k6(raw, where, base_dir):
    """Return (script, args) from a task's k6 mapping."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}.k6 must be a mapping with 'script'")
    _unknown_keys(raw, K6_KEYS, f"{where}.k6")
    script = raw.get("script")
    if not isinstance(script, str) or not script:
        raise ConfigError(f"{where}.k6.script must be a non-empty string")
    args = _string_list(raw.get("args", []), f"{where}.k6.args", allow_empty=True)
    return str((base_dir / script).resolve()), args


def _parse_schedule(raw, task, where):
    """Fill task.cron or task.interval, requiring exactly one of them."""
    has_cron, has_interval = "cron" in raw, "interval" in raw
    if has_cron == has_interval:
        raise ConfigError(f"{where}: exactly one of 'cron' or 'interval' is required")
    if has_cron:
        expr = raw["cron"]
        # croniter also accepts 6/7-field forms; the config promises classic 5-field cron.
        if not isinstance(expr, str) or len(expr.split()) != 5 or not croniter.is_valid(expr):
            raise ConfigError(f"{where}.cron is not a valid 5-field cron expression: {expr!r}")
        task.cron = expr
    else:
        task.interval = _positive_number(raw["interval"], f"{where}.interval")


def _parse_task(raw, index, base_dir):
    """Validate one task mapping and return a Task."""
    where = f"tasks[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(f"{where}.name must match {NAME_RE.pattern}, got {name!r}")
    where = f"tasks[{index}] ({name})"
    _unknown_keys(raw, TASK_KEYS, where)
    if "timeout" not in raw:
        raise ConfigError(f"{where}: 'timeout' is required")
    task = Task(name=name, timeout=_positive_number(raw["timeout"], f"{where}.timeout"))
    if ("command" in raw) == ("k6" in raw):
        raise ConfigError(f"{where}: exactly one of 'command' or 'k6' is required")
    if "command" in raw:
        task.command = _string_list(raw["command"], f"{where}.command")
    else:
        task.k6_script, task.k6_args = _parse_k6(raw["k6"], where, base_dir)
    _parse_schedule(raw, task, where)
    return task


def parse_config(data, base_dir):
    """Validate a loaded YAML document and return a Config."""
    if not isinstance(data, dict):
        raise ConfigError("top level must be a mapping with a 'tasks' list")
    _unknown_keys(data, TOP_KEYS, "top level")
    raw_tasks = data.get("tasks")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise ConfigError("'tasks' must be a non-empty list")
    tasks = [_parse_task(raw, i, base_dir) for i, raw in enumerate(raw_tasks)]
    names = [t.name for t in tasks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"duplicate task name(s): {', '.join(dupes)}")
    config = Config(tasks=tasks)
    if "kill_grace_seconds" in data:
        config.kill_grace = _positive_number(data["kill_grace_seconds"], "kill_grace_seconds")
    return config


def load_config(path):
    """Read and validate the YAML config file at path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}") from exc
    return parse_config(data, path.resolve().parent)


# ---------------------------------------------------------------- scheduling


def next_cron_time(expr, after):
    """Return the first epoch second strictly after `after` (epoch s) matching cron expr."""
    # Local wall-clock time, as cron does; the image runs in UTC unless TZ says otherwise.
    start = datetime.fromtimestamp(after).astimezone()
    return croniter(expr, start).get_next(float)


def next_due(task, now, previous=None):
    """Return the next epoch time task should start, given the current time."""
    if task.cron:
        return next_cron_time(task.cron, now)
    due = (previous if previous is not None else now) + task.interval
    # After a stall (suspend, clock jump) skip the missed slots instead of bursting.
    if due <= now:
        due += math.ceil((now - due) / task.interval) * task.interval
        if due <= now:
            due += task.interval
    return due


# ---------------------------------------------------------------- k6 summary


def _sum_checks(group):
    """Return (passes, fails) summed over a k6 summary group and its subgroups."""
    passes = fails = 0
    checks = group.get("checks") or {}
    for check in checks.values() if isinstance(checks, dict) else checks:
        passes += int(check.get("passes", 0))
        fails += int(check.get("fails", 0))
    groups = group.get("groups") or {}
    for sub in groups.values() if isinstance(groups, dict) else groups:
        p, f = _sum_checks(sub)
        passes, fails = passes + p, fails + f
    return passes, fails


def parse_summary(path):
    """Return metrics from a k6 --summary-export file, or None if it is missing or garbled."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        metrics = data["metrics"]
        if not isinstance(metrics, dict):
            return None
        passed, failed = _sum_checks(data.get("root_group") or {})
        result = {"checks_passed": float(passed), "checks_failed": float(failed)}
        if "http_reqs" in metrics:
            result["http_requests"] = float(metrics["http_reqs"]["count"])
        if "http_req_failed" in metrics:
            # Rate metric: `value` is the failed fraction (its `passes` count FAILED requests).
            result["http_req_failed_ratio"] = float(metrics["http_req_failed"]["value"])
        if "http_req_duration" in metrics:
            result["http_req_duration_p95_seconds"] = float(metrics["http_req_duration"]["p(95)"]) / 1000.0
        return result
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


# ---------------------------------------------------------------- Pushgateway

METRIC_HELP = {
    "checks_passed": "k6 checks that passed in the last run",
    "checks_failed": "k6 checks that failed in the last run",
    "http_requests": "HTTP requests made by the last run",
    "http_req_failed_ratio": "Fraction of the last run's HTTP requests that failed",
    "http_req_duration_p95_seconds": "95th percentile HTTP request duration of the last run",
    "success": "1 if the last run exited 0 (all thresholds passed), else 0",
    "exit_code": "Exit code of the last k6 run (negative: killed by that signal)",
    "run_duration_seconds": "Wall-clock duration of the last run",
    "last_run_timestamp_seconds": "Unix time the last run finished",
    "last_success_timestamp_seconds": "Unix time of the last successful run",
}


def pushgateway_url():
    """Return the Pushgateway base URL from the environment."""
    return os.environ.get("PUSHGATEWAY_URL", "http://pushgateway:9091").rstrip("/")


def build_registry(values):
    """Return a private registry holding one gauge per known value."""
    registry = CollectorRegistry()
    for key, value in values.items():
        if value is None or key not in METRIC_HELP:
            continue
        Gauge(PREFIX + key, METRIC_HELP[key], registry=registry).set(value)
    return registry


def push_results(scenario, values):
    """PUT the values under job/scenario; log and swallow any failure."""
    registry = build_registry(values)
    try:
        push_to_gateway(pushgateway_url(), job=PUSH_JOB, registry=registry,
                        grouping_key={"scenario": scenario}, timeout=PUSH_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 -- a dead Pushgateway must never stop the scheduler
        LOG.error("push failed task=%s url=%s error=%s", scenario, pushgateway_url(), exc)
        return False
    LOG.info("push ok task=%s success=%s", scenario, int(values.get("success", 0)))
    return True


def fetch_last_success(scenario):
    """Read this scenario's last-success timestamp back from the Pushgateway, or None."""
    name = PREFIX + "last_success_timestamp_seconds"
    try:
        with urllib.request.urlopen(pushgateway_url() + "/metrics", timeout=PUSH_TIMEOUT) as resp:
            text = resp.read().decode("utf-8")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if sample.name == name and labels.get("job") == PUSH_JOB and labels.get("scenario") == scenario:
                    return float(sample.value)
    except Exception as exc:  # noqa: BLE001 -- best effort: without it the metric is just omitted
        LOG.warning("could not read last success back task=%s error=%s", scenario, exc)
    return None


# ---------------------------------------------------------------- running one task


def kill_group(pgid, sig):
    """Send sig to a process group, ignoring a group that is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _live_in_group(pgid):
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


def group_alive(pgid):
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


def stop_process_group(proc, grace):
    """SIGTERM proc's process group, wait up to grace, then SIGKILL whatever is left."""
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


def supervise(proc, timeout, grace, stop_event):
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


def k6_argv(task, summary_path):
    """Return the argv of a k6 task run writing its summary to summary_path."""
    k6 = os.environ.get("K6_BIN", "k6")
    # No usage report: k6 would otherwise phone home to Grafana on every run.
    return [k6, "run", "--quiet", "--no-color", "--no-usage-report", f"--summary-export={summary_path}",
            *task.k6_args, task.k6_script]


class Runner:
    """Runs tasks, one at a time per task, and pushes k6 results."""

    def __init__(self, config, stop_event):
        """Keep the config and the shared shutdown flag."""
        self.config = config
        self.stop_event = stop_event
        self.last_success = {}

    def run(self, task):
        """Run task to completion (or timeout/shutdown) and return its exit code."""
        workdir = tempfile.mkdtemp(prefix=f"k6-pycron-{task.name}-") if task.is_k6 else None
        summary = os.path.join(workdir, "summary.json") if workdir else None
        argv = k6_argv(task, summary) if task.is_k6 else task.command
        started = time.time()
        try:
            code, outcome = self._execute(task, argv)
            duration = time.time() - started
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

    def _execute(self, task, argv):
        """Start argv in its own session and supervise it; return (exit code, outcome)."""
        try:
            proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL)
        except OSError as exc:
            LOG.error("run failed to start task=%s argv=%s error=%s", task.name, argv[0], exc)
            return 127, "not_started"
        LOG.info("run start task=%s pid=%d timeout=%gs", task.name, proc.pid, task.timeout)
        outcome = supervise(proc, task.timeout, self.config.kill_grace, self.stop_event)
        return proc.returncode, outcome

    def _report(self, task, code, duration, summary):
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


# ---------------------------------------------------------------- main loop


class Scheduler:
    """Launches due tasks in worker threads, never overlapping a task with itself."""

    def __init__(self, config, heartbeat):
        """Prepare per-task state."""
        self.config = config
        self.heartbeat = Path(heartbeat)
        self.stop_event = threading.Event()
        self.runner = Runner(config, self.stop_event)
        self.threads = {}
        self.due = {}

    def request_stop(self, signum, _frame=None):
        """Signal handler: stop launching and make running tasks stop."""
        LOG.info("signal %s received: shutting down", signal.Signals(signum).name)
        self.stop_event.set()

    def _schedule_all(self, now):
        """Compute every task's first due time and log it."""
        for task in self.config.tasks:
            self.due[task.name] = next_due(task, now)
            LOG.info("scheduled task=%s next=%s", task.name,
                     datetime.fromtimestamp(self.due[task.name]).astimezone().isoformat())

    def _launch_due(self, now):
        """Start every due task whose previous run has finished."""
        for task in self.config.tasks:
            if now < self.due[task.name]:
                continue
            self.due[task.name] = next_due(task, now, self.due[task.name])
            running = self.threads.get(task.name)
            if running is not None and running.is_alive():
                LOG.warning("run skipped task=%s reason=previous run still running", task.name)
                continue
            thread = threading.Thread(target=self._safe_run, args=(task,), name=f"task-{task.name}", daemon=True)
            self.threads[task.name] = thread
            thread.start()

    def _safe_run(self, task):
        """Run a task in a worker thread; an unexpected error is logged, not fatal."""
        try:
            self.runner.run(task)
        except Exception:  # noqa: BLE001 -- one bad run must not kill the scheduler
            LOG.exception("run crashed task=%s", task.name)

    def _beat(self):
        """Touch the heartbeat file read by the container healthcheck."""
        try:
            self.heartbeat.touch()
        except OSError as exc:
            LOG.warning("cannot touch heartbeat %s: %s", self.heartbeat, exc)

    def loop(self):
        """Run until asked to stop, then wait for the running tasks."""
        self._schedule_all(time.time())
        while not self.stop_event.is_set():
            self._beat()
            now = time.time()
            self._launch_due(now)
            wait = min(self.due.values()) - time.time()
            self.stop_event.wait(max(0.0, min(wait, MAX_SLEEP)))
        self._drain()

    def _drain(self):
        """Wait for worker threads, which stop their own process groups."""
        # Each worker needs the grace period plus one push timeout at most.
        deadline = time.monotonic() + self.config.kill_grace + PUSH_TIMEOUT + 1
        for thread in self.threads.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        try:
            self.heartbeat.unlink()
        except OSError:
            pass
        LOG.info("scheduler stopped")


# ---------------------------------------------------------------- entry points


def check_health(path, max_age):
    """Return 0 if the heartbeat file is fresher than max_age seconds, else 1."""
    try:
        age = time.time() - os.path.getmtime(path)
    except OSError as exc:
        print(f"unhealthy: no heartbeat at {path}: {exc.strerror}", file=sys.stderr)
        return 1
    if age > max_age:
        print(f"unhealthy: heartbeat is {age:.0f}s old (max {max_age:g}s)", file=sys.stderr)
        return 1
    return 0


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Cron-like scheduler for k6 smoke tests.")
    parser.add_argument("--config", default=os.environ.get("SCHEDULER_CONFIG", str(DEFAULT_CONFIG)),
                        help="YAML config (env SCHEDULER_CONFIG)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--once", metavar="TASK", help="run TASK now, then exit with its exit code")
    group.add_argument("--check-config", action="store_true", help="validate the config and exit")
    group.add_argument("--healthcheck", action="store_true", help="exit 0 if the heartbeat is fresh")
    return parser.parse_args(argv)


def setup_logging():
    """Log one line per event to stdout."""
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")


def run_once(config, name, stop_event):
    """Run one named task immediately; return a process exit code."""
    task = next((t for t in config.tasks if t.name == name), None)
    if task is None:
        print(f"config error: no task named {name!r}", file=sys.stderr)
        return EXIT_CONFIG
    code = Runner(config, stop_event).run(task)
    # Shell convention for a signal death, since exit codes cannot be negative.
    return 128 - code if code < 0 else code


def main(argv=None):
    """Entry point."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    heartbeat = os.environ.get("SCHEDULER_HEARTBEAT_FILE", DEFAULT_HEARTBEAT)
    if args.healthcheck:
        return check_health(heartbeat, float(os.environ.get("HEARTBEAT_MAX_AGE", "30")))
    setup_logging()
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"config error: {args.config}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.check_config:
        print(f"config ok: {args.config}: {len(config.tasks)} task(s)")
        return 0
    scheduler = Scheduler(config, heartbeat)
    signal.signal(signal.SIGTERM, scheduler.request_stop)
    signal.signal(signal.SIGINT, scheduler.request_stop)
    if args.once:
        return run_once(config, args.once, scheduler.stop_event)
    LOG.info("scheduler started config=%s tasks=%d pushgateway=%s", args.config, len(config.tasks), pushgateway_url())
    scheduler.loop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
