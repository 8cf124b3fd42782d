"""Prometheus scrapes every service under the job names the dashboards use; the probes succeed."""

from tests.stack.conftest import PATIENCE_S
from tests.support.prometheus import PrometheusClient
from tests.twin.stack import Twin

JOBS = {"prometheus", "api", "postgres", "apache", "node", "pushgateway", "blackbox-exporter", "blackbox",
        "blackbox-api", "alertmanager", "grafana"}
# The twin has no Grafana (not packaged): its job scrapes an address where nothing listens.
DOWN_IN_THE_TWIN = {"grafana"}


def test_every_target_is_up_under_its_job(twin: Twin, prometheus: PrometheusClient) -> None:
    up = prometheus.wait_until(
        "min by (job) (up)", lambda v: set(v) == JOBS and all(v[job] == (job not in DOWN_IN_THE_TWIN) for job in v),
        PATIENCE_S, label="job",
    )
    jobs = prometheus.values("count by (job) (up)", label="job")
    assert set(jobs) == set(up) == JOBS
    assert jobs["blackbox"] == 4
    assert jobs["blackbox-api"] == len(twin.addresses["api"])
    assert jobs["grafana"] == 1 and prometheus.values('up{job="grafana"}') == {"grafana:3000": 0.0}


def test_every_api_replica_is_a_target(twin: Twin, prometheus: PrometheusClient) -> None:
    replicas = {f"{address}:8000" for address in twin.addresses["api"]}
    up = prometheus.wait_until('up{job="api"}', lambda v: set(v) == replicas and all(v.values()), PATIENCE_S)
    assert len(up) == 2


def test_each_exporter_reports_its_service(prometheus: PrometheusClient) -> None:
    for expr in ("pg_up", "apache_up", "node_load1", 'http_request_duration_seconds_count{job="api"}'):
        prometheus.wait_until(expr, lambda v: bool(v) and all(value >= 0 for value in v.values()), PATIENCE_S)
    assert set(prometheus.values("pg_up").values()) == {1.0}
    assert set(prometheus.values("apache_up").values()) == {1.0}


def test_probes_of_the_page_the_api_and_the_smtp_sink_succeed(prometheus: PrometheusClient) -> None:
    wanted = {"http://apache:80/", "http://apache:80/api/readyz", "http://apache:80/delay", "mailpit:1025"}
    success = prometheus.wait_until(
        'probe_success{job="blackbox"}', lambda v: set(v) == wanted and all(v.values()), PATIENCE_S
    )
    assert set(success.values()) == {1.0}


def test_every_api_replica_is_probed_as_itself(twin: Twin, prometheus: PrometheusClient) -> None:
    """One probe per replica, whose instance is the replica's address as in job api's `up`."""
    replicas = {f"{address}:8000" for address in twin.addresses["api"]}
    success = prometheus.wait_until('probe_success{job="blackbox-api"}',
                                    lambda v: set(v) == replicas and all(v.values()), PATIENCE_S)
    assert set(success) == set(prometheus.values('up{job="api"}')) == replicas


def test_the_slow_page_is_at_least_as_slow_as_configured(twin: Twin, prometheus: PrometheusClient) -> None:
    """The slow page takes its DELAY_SECONDS and its probe still succeeds (within the http_slow module's
    timeout, checked against the scrape timeout in tests/blackbox). No upper bound on the duration:
    a busy machine adds to it, and the alert rule "Slow page slower than designed" watches that."""
    delay = float(twin.services["apache"]["environment"]["DELAY_SECONDS"])
    slow = 'instance="http://apache:80/delay"'
    prometheus.wait_until(f"probe_success{{{slow}}}", lambda v: list(v.values()) == [1.0], PATIENCE_S)
    durations = prometheus.values(f"probe_duration_seconds{{{slow}}}")
    assert list(durations.values())[0] >= delay
