"""Results to and from the Pushgateway: one group per task, job="k6_smoke", scenario=<task name>."""

import logging
import os
import urllib.request

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
from prometheus_client.parser import text_string_to_metric_families

LOG = logging.getLogger("k6-pycron")
PUSH_JOB = "k6_smoke"
PREFIX = "k6_smoke_"
PUSH_TIMEOUT = 5.0  # seconds per HTTP request to the Pushgateway

METRIC_HELP = {
    "checks_passed": "k6 checks that passed in the last run",
    "checks_failed": "k6 checks that failed in the last run",
    "http_requests": "HTTP requests made by the last run",
    "http_req_failed_ratio": "Fraction of the last run's HTTP requests that failed",
    "http_req_duration_p95_seconds": "95th percentile HTTP request duration of the last run",
    "success": "1 if the last run exited 0 (all thresholds passed), else 0",
    "exit_code": "Exit code of the last k6 run (negative: killed by that signal)",
    "run_duration_seconds": "Elapsed time of the last run (monotonic clock)",
    "last_run_timestamp_seconds": "Unix time the last run finished",
    "last_success_timestamp_seconds": "Unix time of the last successful run",
}


def pushgateway_url() -> str:
    """The Pushgateway base URL from PUSHGATEWAY_URL (default http://pushgateway:9091)."""
    return os.environ.get("PUSHGATEWAY_URL", "http://pushgateway:9091").rstrip("/")


def build_registry(values: dict[str, float | None]) -> CollectorRegistry:
    """A private registry holding one gauge per known, present value."""
    registry = CollectorRegistry()
    for key, value in values.items():
        if value is None or key not in METRIC_HELP:
            continue
        Gauge(PREFIX + key, METRIC_HELP[key], registry=registry).set(value)
    return registry


def push_results(scenario: str, values: dict[str, float | None]) -> bool:
    """PUT the values under job/scenario (replacing the group); log and swallow any failure."""
    registry = build_registry(values)
    try:
        push_to_gateway(pushgateway_url(), job=PUSH_JOB, registry=registry,
                        grouping_key={"scenario": scenario}, timeout=PUSH_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 -- a dead Pushgateway must never stop the scheduler
        LOG.error("push failed task=%s url=%s error=%s", scenario, pushgateway_url(), exc)
        return False
    LOG.info("push ok task=%s success=%s", scenario, int(values.get("success") or 0))
    return True


def fetch_last_success(scenario: str) -> float | None:
    """This scenario's last-success timestamp as the Pushgateway holds it, or None."""
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
