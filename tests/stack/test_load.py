"""Locust through Apache for ~20 s: no failure, and Prometheus counts the API's requests."""

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.stack.conftest import K6_INTERVAL_S
from tests.support.prometheus import PrometheusClient
from tests.twin.stack import Twin

LOCUSTFILE = Path(__file__).resolve().parents[2] / "api" / "load" / "performance_tests.py"
# The smoke test's requests that reach the API (web_workflow_test.js: all but `GET /`).
SMOKE_API_REQUESTS = 10
API_REQUESTS = 'sum(http_request_duration_seconds_count{job="api", handler!~"/healthz|/readyz"})'


def test_a_load_run_through_apache_has_no_failures_and_is_counted(
    twin: Twin, prometheus: PrometheusClient, scrape_interval_s: float, tmp_path: Path
) -> None:
    prometheus.wait_until('up{job="api"}', lambda v: len(v) == 2 and all(v.values()), 4 * scrape_interval_s)
    time.sleep(scrape_interval_s)  # a scrape after the last request before the run
    before = sum(prometheus.values(API_REQUESTS).values())
    started = time.monotonic()
    # Every user signs in with .env's load-test account (the twin ensured it, as ./run.sh does).
    env = {**os.environ, "LOAD_TEST_DURATION": "20", "LOAD_TEST_PEAK_USERS": "10",
           "LOAD_TEST_USERNAME": twin.env["LOAD_TEST_USERNAME"], "LOAD_TEST_PASSWORD": twin.env["LOAD_TEST_PASSWORD"]}
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", twin.url("apache", "/api"), "--headless",
         "--only-summary", "--csv", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=90,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with (tmp_path / "run_stats.csv").open() as stats:
        total = next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")
    sent = int(total["Request Count"])
    assert int(total["Failure Count"]) == 0
    # Enough traffic to mean something (each user also signs in: an argon2 check of a few tens of ms).
    assert sent > 50
    with (tmp_path / "run_stats.csv").open() as stats:
        by_name = {row["Name"]: row for row in csv.DictReader(stats)}
    # Each simulated operator signed in (several at once, one account) and out again; none was refused.
    assert int(by_name["/auth/sign-in"]["Request Count"]) >= 2
    assert int(by_name["/auth/sign-out"]["Request Count"]) >= 1
    # The load must all be there. The smoke test adds its own: at most one run per K6_INTERVAL_S of the
    # window (and one more), each at most SMOKE_API_REQUESTS API requests; nothing is counted twice.
    counted = prometheus.wait_until(API_REQUESTS, lambda v: sum(v.values()) - before >= sent, 3 * scrape_interval_s)
    smoke_runs = (time.monotonic() - started) // K6_INTERVAL_S + 2
    assert sum(counted.values()) - before <= sent + smoke_runs * SMOKE_API_REQUESTS
