"""The k6 scheduler runs the smoke test on its schedule; Prometheus scrapes what it pushes."""

import pytest

from tests.stack.conftest import K6_INTERVAL_S
from tests.support.prometheus import PrometheusClient
from tests.twin.stack import Twin

SMOKE = '{job="k6_smoke", scenario="web_workflow"}'


def last_run(prometheus: PrometheusClient) -> float:
    values = prometheus.values(f"k6_smoke_last_run_timestamp_seconds{SMOKE}")
    return max(values.values(), default=0.0)


def test_smoke_runs_succeed_on_schedule(prometheus: PrometheusClient, scrape_interval_s: float) -> None:
    patience = 2 * K6_INTERVAL_S + 2 * scrape_interval_s + 15
    prometheus.wait_until(f"k6_smoke_success{SMOKE}", lambda v: list(v.values()) == [1.0], patience)
    first = last_run(prometheus)
    prometheus.wait_until(f"k6_smoke_last_run_timestamp_seconds{SMOKE}", lambda v: max(v.values()) > first, patience)
    checks = prometheus.values(f"k6_smoke_checks_passed{SMOKE}")
    assert list(checks.values())[0] >= 5
    assert list(prometheus.values(f"k6_smoke_checks_failed{SMOKE}").values()) == [0.0]
    assert list(prometheus.values(f"k6_smoke_http_req_failed_ratio{SMOKE}").values()) == [0.0]


@pytest.mark.disruptive
def test_a_failing_smoke_run_is_pushed_as_a_failure(
    twin: Twin, prometheus: PrometheusClient, scrape_interval_s: float
) -> None:
    patience = 2 * K6_INTERVAL_S + 2 * scrape_interval_s + 15
    prometheus.wait_until(f"k6_smoke_success{SMOKE}", lambda v: list(v.values()) == [1.0], patience)
    last_success = max(prometheus.values(f"k6_smoke_last_success_timestamp_seconds{SMOKE}").values())
    twin.stop("api")
    try:
        prometheus.wait_until(f"k6_smoke_success{SMOKE}", lambda v: list(v.values()) == [0.0], patience)
        assert list(prometheus.values(f"k6_smoke_exit_code{SMOKE}").values()) != [0.0]
        # A failed run leaves the last success where it was: that is what the staleness alert watches.
        assert max(prometheus.values(f"k6_smoke_last_success_timestamp_seconds{SMOKE}").values()) >= last_success
        assert max(prometheus.values(f"k6_smoke_last_success_timestamp_seconds{SMOKE}").values()) < last_run(prometheus)
    finally:
        twin.start_service("api")
    prometheus.wait_until(f"k6_smoke_success{SMOKE}", lambda v: list(v.values()) == [1.0], patience)
