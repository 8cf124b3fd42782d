"""Locust through Apache for ~20 s: no failure, and Prometheus counts exactly the API's requests; with
a wrong base path (Apache's HTML 404) the run fails."""

import contextlib
import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from tests.stack.conftest import PATIENCE_S
from tests.support.prometheus import PrometheusClient
from tests.twin.stack import Twin

LOCUSTFILE = Path(__file__).resolve().parents[2] / "api" / "load" / "performance_tests.py"
# Probes and healthchecks call /healthz and /readyz on their own schedule. A user's sign-out runs in
# on_stop, which Locust may cut when the run ends: the API can have answered a sign-out Locust never
# counted (seen: 17 answered, 15 counted), so sign-outs are compared on their own, not exactly.
UNCOUNTED = {"/healthz", "/readyz", "/auth/sign-out"}
API_REQUESTS = 'sum(http_request_duration_seconds_count{job="api", handler!~"/healthz|/readyz|/auth/sign-out"})'


def run_locust(twin: Twin, host: str, tmp_path: Path, duration_s: int) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, str]], set[str]]:
    """A headless run: the process, the stats rows by name ("Aggregated" the total), and the failure messages.

    Every user signs in with .env's load-test account (the twin ensured it, as ./run.sh does).
    """
    env = {**os.environ, "LOAD_TEST_DURATION": str(duration_s), "LOAD_TEST_PEAK_USERS": "10",
           "LOAD_TEST_USERNAME": twin.env["LOAD_TEST_USERNAME"], "LOAD_TEST_PASSWORD": twin.env["LOAD_TEST_PASSWORD"]}
    result = subprocess.run(
        # --stop-timeout: a user the shape (or the end) stops finishes its request, which is then
        # counted; by default Locust kills it mid-request, uncounted though the API served it.
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", host, "--headless",
         "--only-summary", "--csv", str(tmp_path / "run"), "--stop-timeout", "60"],
        capture_output=True, text=True, env=env, timeout=240,  # only a run that never ends reaches this
    )
    with (tmp_path / "run_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    with (tmp_path / "run_failures.csv").open() as failures:
        errors = {row["Error"] for row in csv.DictReader(failures)}
    return result, rows, errors


def counted_by_handler(twin: Twin) -> dict[tuple[str, str], float]:
    """The API's own count of requests per (method, handler), summed over its replicas' /metrics."""
    counts: dict[tuple[str, str], float] = {}
    for address in twin.addresses["api"]:
        text = httpx.get(f"http://{address}:8000/metrics", timeout=PATIENCE_S).text
        for family in text_string_to_metric_families(text):
            if family.name == "http_request_duration_seconds":
                for sample in family.samples:
                    if sample.name == "http_request_duration_seconds_count":
                        key = (sample.labels.get("method", ""), sample.labels.get("handler", ""))
                        counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def counted_by_the_api(twin: Twin) -> float:
    """The API's own count of requests (UNCOUNTED handlers left out), summed over its replicas' /metrics."""
    return sum(count for (_method, handler), count in counted_by_handler(twin).items() if handler not in UNCOUNTED)


@contextlib.contextmanager
def paused(twin: Twin, service: str) -> Iterator[None]:
    """SIGSTOP a service's processes and every descendant, SIGCONT them afterwards.

    Frozen, the smoke scheduler and a k6 run it started (in a session of its own) send nothing: the
    only other API traffic is the one request a run may have had in flight, so counts can be
    compared exactly instead of within a guessed margin. The parent is stopped first, so it cannot
    start a child after its children were listed.
    """
    frozen: list[psutil.Process] = []
    try:
        for replica in twin.replicas[service]:
            assert replica.process is not None
            parent = psutil.Process(replica.process.pid)
            parent.suspend()
            frozen.append(parent)
            for child in parent.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.suspend()
                    frozen.append(child)
        yield
    finally:
        for process in reversed(frozen):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.resume()


def test_a_load_run_through_apache_has_no_failures_and_is_counted(
    twin: Twin, prometheus: PrometheusClient, tmp_path: Path
) -> None:
    prometheus.wait_until('up{job="api"}', lambda v: len(v) == 2 and all(v.values()), PATIENCE_S)
    with paused(twin, "k6"):
        before = counted_by_the_api(twin)
        signed_out_before = counted_by_handler(twin).get(("POST", "/auth/sign-out"), 0.0)
        result, rows, errors = run_locust(twin, twin.url("apache", "/api"), tmp_path, duration_s=20)
        assert result.returncode == 0, (errors, result.stderr[-3000:])
        total = rows["Aggregated"]
        # Each simulated operator signed in (several at once, one account) and out again; none was refused.
        assert int(rows["/auth/sign-in"]["Request Count"]) >= 2
        assert int(rows["/auth/sign-out"]["Request Count"]) >= 1
        sent = int(total["Request Count"]) - int(rows["/auth/sign-out"]["Request Count"])
        assert sent > 0
        assert int(total["Failure Count"]) == 0
        after = counted_by_the_api(twin)
        # Every request reached the API once; at most one more is the smoke run's, in flight when paused.
        assert sent <= after - before <= sent + 1
        # Every sign-out Locust counted was answered, and none that no user sent.
        signed_out = counted_by_handler(twin).get(("POST", "/auth/sign-out"), 0.0) - signed_out_before
        assert int(rows["/auth/sign-out"]["Request Count"]) <= signed_out <= int(rows["/auth/sign-in"]["Request Count"])
        # Prometheus ends up with the API's own count: nothing lost or counted twice between them.
        prometheus.wait_until(API_REQUESTS, lambda v: sum(v.values()) == counted_by_the_api(twin), PATIENCE_S)


def test_a_wrong_base_path_fails_the_load_run(twin: Twin, tmp_path: Path) -> None:
    """Under /apx Apache answers its own HTML 404, the status of "not listed": only the body tells
    them apart, and every request must fail on it."""
    result, rows, errors = run_locust(twin, twin.url("apache", "/apx"), tmp_path, duration_s=5)
    total = rows["Aggregated"]
    assert result.returncode == 1, result.stderr[-3000:]
    assert int(total["Request Count"]) > 0
    assert total["Failure Count"] == total["Request Count"]
    assert any("404 but the body is not JSON from the API: <!DOCTYPE HTML" in error for error in errors), errors
