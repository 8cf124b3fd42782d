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
UNCOUNTED = {"/healthz", "/readyz"}  # probes and healthchecks call these on their own schedule
API_REQUESTS = 'sum(http_request_duration_seconds_count{job="api", handler!~"/healthz|/readyz"})'


def run_locust(host: str, tmp_path: Path, duration_s: int) -> tuple[subprocess.CompletedProcess[str], dict[str, str], set[str]]:
    """A headless run: the process, the Aggregated stats row, and the failure messages."""
    env = {**os.environ, "LOAD_TEST_DURATION": str(duration_s), "LOAD_TEST_PEAK_USERS": "10"}
    result = subprocess.run(
        # --stop-timeout: a user the shape (or the end) stops finishes its request, which is then
        # counted; by default Locust kills it mid-request, uncounted though the API served it.
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", host, "--headless",
         "--only-summary", "--csv", str(tmp_path / "run"), "--stop-timeout", "60"],
        capture_output=True, text=True, env=env, timeout=240,  # only a run that never ends reaches this
    )
    with (tmp_path / "run_stats.csv").open() as stats:
        total = next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")
    with (tmp_path / "run_failures.csv").open() as failures:
        errors = {row["Error"] for row in csv.DictReader(failures)}
    return result, total, errors


def counted_by_the_api(twin: Twin) -> float:
    """The API's own count of requests (health checks left out), summed over its replicas' /metrics."""
    total = 0.0
    for address in twin.addresses["api"]:
        text = httpx.get(f"http://{address}:8000/metrics", timeout=PATIENCE_S).text
        for family in text_string_to_metric_families(text):
            if family.name == "http_request_duration_seconds":  # the histogram's _count counts the requests
                total += sum(sample.value for sample in family.samples
                             if sample.name == "http_request_duration_seconds_count"
                             and sample.labels.get("handler") not in UNCOUNTED)
    return total


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
        result, total, errors = run_locust(twin.url("apache", "/api"), tmp_path, duration_s=20)
        assert result.returncode == 0, (errors, result.stderr[-3000:])
        sent = int(total["Request Count"])
        assert sent > 0
        assert int(total["Failure Count"]) == 0
        after = counted_by_the_api(twin)
        # Every request reached the API once; at most one more is the smoke run's, in flight when paused.
        assert sent <= after - before <= sent + 1
        # Prometheus ends up with the API's own count: nothing lost or counted twice between them.
        prometheus.wait_until(API_REQUESTS, lambda v: sum(v.values()) == counted_by_the_api(twin), PATIENCE_S)


def test_a_wrong_base_path_fails_the_load_run(twin: Twin, tmp_path: Path) -> None:
    """Under /apx Apache answers its own HTML 404, the status of "not listed": only the body tells
    them apart, and every request must fail on it."""
    result, total, errors = run_locust(twin.url("apache", "/apx"), tmp_path, duration_s=5)
    assert result.returncode == 1, result.stderr[-3000:]
    assert int(total["Request Count"]) > 0
    assert total["Failure Count"] == total["Request Count"]
    assert any("404 but the body is not JSON from the API: <!DOCTYPE HTML" in error for error in errors), errors
