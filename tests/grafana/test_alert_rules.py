"""`promtool test rules` cases generated from the alerting file: each rule fires on series that break it
and stays silent on healthy ones.

The expressions come from grafana/provisioning/alerting (step A of each rule, with its `for`), never
copied here; this file only holds the synthetic series of each case and the alerts they must raise.
"""

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.grafana.queries import alert_queries, alert_rules

PROMTOOL = "/usr/bin/promtool"
STEP = "15s"        # the scrape interval: one sample per series per step
STEPS = 80          # 20 minutes of samples
EVAL_AT = "10m"     # late enough for every rule's 5m windows and `for`

API = 'job="api", instance="10.0.0.2:8000"'
APACHE = 'job="apache", instance="apache-exporter:9117"'
POSTGRES = 'job="postgres", instance="postgres-exporter:9187"'
NODE = 'job="node", instance="node-exporter:9100"'
SMOKE = 'job="k6_smoke", scenario="web_workflow"'
PAGE = 'job="blackbox", instance="http://apache:80/", module="http_2xx"'
HEALTHZ = 'job="blackbox", instance="http://api:8000/healthz", module="http_2xx"'
DELAY = 'job="blackbox", instance="http://apache:80/delay", module="http_slow"'
LATENCY_BUCKETS = ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0",
                   "+Inf")


@dataclass(frozen=True)
class Case:
    """Synthetic input series (promtool's expanding notation) and the alerts expected at EVAL_AT."""

    name: str
    series: dict[str, str]
    fires: list[dict[str, str]] = field(default_factory=list)


def labels(selector: str) -> dict[str, str]:
    """The labels of a `k="v", ...` selector, as the alert carries them."""
    return dict(yaml.safe_load("{" + selector.replace('="', ': "') + "}"))


def constant(value: float) -> str:
    """A series holding `value` for the whole test."""
    return f"{value}x{STEPS}"


def histogram(handler: str, phases: list[tuple[int, float]], per_step: int = 10, status: str = "2xx") -> dict[str, str]:
    """Cumulative request-duration buckets: `per_step` requests per step taking `seconds` in each phase."""
    series = {}
    for le in LATENCY_BUCKETS:
        counts, total = ["0"], 0
        for steps, seconds in phases:
            for _ in range(steps):
                total += per_step if seconds <= float(le) else 0
                counts.append(str(total))
        selector = f'{API}, handler="{handler}", method="GET", status="{status}", le="{le}"'
        series[f"http_request_duration_seconds_bucket{{{selector}}}"] = \
            " ".join(counts)
    return series


def requests(handler: str, status: str, per_step: float) -> dict[str, str]:
    """The request count (the latency histogram's _count) growing by `per_step` requests per step."""
    selector = f'{API}, handler="{handler}", method="GET", status="{status}"'
    return {f"http_request_duration_seconds_count{{{selector}}}": f"0+{per_step}x{STEPS}"}


def filesystem(mountpoint: str, fstype: str, available: float, readonly: int = 0) -> dict[str, str]:
    """node-exporter's series for one 100 GB filesystem with `available` of it free."""
    selector = f'{NODE}, device="/dev/{mountpoint.strip("/") or "root"}", fstype="{fstype}", mountpoint="{mountpoint}"'
    return {
        f"node_filesystem_avail_bytes{{{selector}}}": constant(available * 100e9),
        f"node_filesystem_size_bytes{{{selector}}}": constant(100e9),
        f"node_filesystem_readonly{{{selector}}}": constant(readonly),
    }


def disk_labels(mountpoint: str, fstype: str) -> dict[str, str]:
    """The labels of the disk alert for one filesystem."""
    return labels(f'{NODE}, device="/dev/{mountpoint.strip("/") or "root"}", fstype="{fstype}", '
                  f'mountpoint="{mountpoint}"')


CASES: dict[str, list[Case]] = {
    "promethoide-api-down": [
        Case("every replica down", {f"up{{{API}}}": constant(0)}, [{}]),
        Case("no replica discovered at all", {}, [{}]),
        Case("one replica of two up", {f"up{{{API}}}": constant(1),
                                       'up{job="api", instance="10.0.0.3:8000"}': constant(0)}),
    ],
    "promethoide-api-replica-down": [
        Case("one replica down", {f"up{{{API}}}": constant(1), 'up{job="api", instance="10.0.0.3:8000"}': constant(0)},
             [labels('job="api", instance="10.0.0.3:8000"')]),
        Case("every replica up", {f"up{{{API}}}": constant(1), 'up{job="api", instance="10.0.0.3:8000"}': constant(1)}),
    ],
    "promethoide-apache-down": [
        Case("Apache unreachable", {f"apache_up{{{APACHE}}}": constant(0), f"up{{{APACHE}}}": constant(1)},
             [labels(APACHE)]),
        Case("exporter unreachable", {f"up{{{APACHE}}}": constant(0)}, [labels(APACHE)]),
        Case("both up", {f"apache_up{{{APACHE}}}": constant(1), f"up{{{APACHE}}}": constant(1)}),
    ],
    "promethoide-postgres-down": [
        Case("PostgreSQL unreachable", {f"pg_up{{{POSTGRES}}}": constant(0), f"up{{{POSTGRES}}}": constant(1)},
             [labels(POSTGRES)]),
        Case("exporter unreachable", {f"up{{{POSTGRES}}}": constant(0)}, [labels(POSTGRES)]),
        Case("both up", {f"pg_up{{{POSTGRES}}}": constant(1), f"up{{{POSTGRES}}}": constant(1)}),
    ],
    "promethoide-probe-failing": [
        Case("the API's health check fails", {f"probe_success{{{HEALTHZ}}}": constant(0),
                                              f"probe_success{{{PAGE}}}": constant(1)}, [labels(HEALTHZ)]),
        Case("every probe succeeds", {f"probe_success{{{HEALTHZ}}}": constant(1),
                                      f"probe_success{{{DELAY}}}": constant(1)}),
    ],
    "promethoide-operator-page-slow": [
        Case("the page takes 2.5 s", {f"probe_duration_seconds{{{PAGE}}}": constant(2.5)}, [labels(PAGE)]),
        Case("the page is fast, /delay slow by design", {f"probe_duration_seconds{{{PAGE}}}": constant(0.05),
                                                         f"probe_duration_seconds{{{DELAY}}}": constant(2.1)}),
    ],
    "promethoide-slow-page-slower": [
        Case("/delay takes 4 s", {f"probe_duration_seconds{{{DELAY}}}": constant(4)}, [labels(DELAY)]),
        Case("/delay takes its designed 2 s", {f"probe_duration_seconds{{{DELAY}}}": constant(2.05),
                                               f"probe_duration_seconds{{{PAGE}}}": constant(0.05)}),
    ],
    "promethoide-smoke-test-failing": [
        Case("the last runs failed", {f"k6_smoke_success{{{SMOKE}}}": constant(0)}, [labels(SMOKE)]),
        Case("the last runs passed", {f"k6_smoke_success{{{SMOKE}}}": constant(1)}),
    ],
    "promethoide-smoke-test-stale": [
        # promtool's clock starts at 0: a timestamp of 0 is 10 minutes old at EVAL_AT.
        Case("no success for 10 minutes", {f"k6_smoke_last_success_timestamp_seconds{{{SMOKE}}}": constant(0)},
             [labels(SMOKE)]),
        Case("no success ever pushed", {f"k6_smoke_success{{{SMOKE}}}": constant(0)}, [{"job": "k6_smoke"}]),
        Case("a success a minute ago", {f"k6_smoke_last_success_timestamp_seconds{{{SMOKE}}}": f"-60+15x{STEPS}"}),
    ],
    "promethoide-host-disk-full": [
        Case("root 95% full", {**filesystem("/", "ext4", 0.05), **filesystem("/boot", "ext4", 0.6)},
             [disk_labels("/", "ext4")]),
        Case("full only where it does not matter", {
            **filesystem("/", "ext4", 0.5),
            **filesystem("/run", "tmpfs", 0.01),           # not a disk
            **filesystem("/snap", "ext4", 0.0, readonly=1),  # read-only images are full by design
        }),
    ],
    "promethoide-host-memory-low": [
        Case("5% available", {f"node_memory_MemAvailable_bytes{{{NODE}}}": constant(0.4e9),
                              f"node_memory_MemTotal_bytes{{{NODE}}}": constant(8e9)}, [labels(NODE)]),
        Case("half available", {f"node_memory_MemAvailable_bytes{{{NODE}}}": constant(4e9),
                                f"node_memory_MemTotal_bytes{{{NODE}}}": constant(8e9)}),
    ],
    "promethoide-api-latency-p95": [
        # /dni at 0.7 s breaks its 0.25 s objective; /immigration at 0.3 s is within its 0.5 s one.
        Case("lookups slow", {**histogram("/dni/{dni}", [(STEPS, 0.7)]), **histogram("/immigration", [(STEPS, 0.3)])},
             [{"handler": "/dni/{dni}"}]),
        Case("every route fast", {**histogram("/dni/{dni}", [(STEPS, 0.003)]),
                                  **histogram("/immigration", [(STEPS, 0.04)])}),
        # The original compared cumulative buckets: slow once, firing forever. A rate recovers.
        Case("slow five minutes, fast since", histogram("/dni/{dni}", [(20, 0.7), (STEPS - 20, 0.003)])),
        # Paths that match no route (handler="none") have no latency objective.
        Case("unmatched paths slow", {**histogram("none", [(STEPS, 0.7)], status="4xx"),
                                      **histogram("/dni/{dni}", [(STEPS, 0.003)])}),
    ],
    "promethoide-api-5xx-ratio": [
        Case("17% of requests fail", {**requests("/immigration", "2xx", 10), **requests("/immigration", "5xx", 2)},
             [{}]),
        Case("1% fail, and /readyz reports a database outage", {
            **requests("/immigration", "2xx", 10), **requests("/immigration", "5xx", 0.1),
            **requests("/readyz", "5xx", 10)}),
        # A scanner's burst of 404s on unmatched paths must not dilute the ratio below the threshold.
        Case("17% fail during a scan", {**requests("/immigration", "2xx", 10), **requests("/immigration", "5xx", 2),
                                        **requests("none", "4xx", 1000)}, [{}]),
    ],
}


def rule_expressions() -> dict[str, tuple[str, str]]:
    """uid -> (PromQL of the rule's Prometheus step, its `for`), from the alerting file."""
    pending = {rule["uid"]: rule.get("for", "0s") for rule in alert_rules()}
    return {query.uid: (query.expr, pending[query.uid]) for query in alert_queries()}


def rules_file(expressions: dict[str, tuple[str, str]]) -> dict[str, object]:
    """A Prometheus rules file: one alert per Grafana rule, named by its uid."""
    return {"groups": [{"name": "grafana", "interval": STEP, "rules": [
        {"alert": uid, "expr": expr, "for": pending} for uid, (expr, pending) in expressions.items()]}]}


def unit_test(uid: str, case: Case) -> dict[str, object]:
    """promtool's unit test: the case's series, and the alerts `uid` must raise at EVAL_AT."""
    return {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": STEP,
        "tests": [{
            "name": f"{uid}: {case.name}",
            "interval": STEP,
            "input_series": [{"series": series, "values": values} for series, values in case.series.items()],
            "alert_rule_test": [{"eval_time": EVAL_AT, "alertname": uid,
                                 "exp_alerts": [{"exp_labels": alert} for alert in case.fires]}],
        }],
    }


def promtool(directory: Path, expressions: dict[str, tuple[str, str]], uid: str,
             case: Case) -> subprocess.CompletedProcess[str]:
    """Write the rules and the case into `directory` and run `promtool test rules` there."""
    (directory / "rules.yaml").write_text(yaml.safe_dump(rules_file(expressions), sort_keys=False))
    (directory / "test.yaml").write_text(yaml.safe_dump(unit_test(uid, case), sort_keys=False))
    return subprocess.run([PROMTOOL, "test", "rules", "test.yaml"], cwd=directory, capture_output=True, text=True,
                          timeout=60)


CASE_PARAMS = [(uid, case) for uid, cases in CASES.items() for case in cases]


@pytest.mark.parametrize(("uid", "case"), CASE_PARAMS, ids=[f"{uid}: {case.name}" for uid, case in CASE_PARAMS])
def test_rule_on_synthetic_series(tmp_path: Path, uid: str, case: Case) -> None:
    result = promtool(tmp_path, rule_expressions(), uid, case)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_breaking_and_healthy_cases() -> None:
    assert set(CASES) == set(rule_expressions()), "a rule without cases, or cases for a rule that is gone"
    for uid, cases in CASES.items():
        assert any(case.fires for case in cases) and any(not case.fires for case in cases), uid


def test_the_harness_notices_a_rule_that_never_fires(tmp_path: Path) -> None:
    expressions = {**rule_expressions(), "promethoide-api-down": ("vector(1) > 2", "0s")}
    result = promtool(tmp_path, expressions, "promethoide-api-down", CASES["promethoide-api-down"][0])
    assert result.returncode != 0


def test_the_harness_notices_a_rule_that_always_fires(tmp_path: Path) -> None:
    expressions = {**rule_expressions(), "promethoide-host-memory-low": ("vector(1)", "0s")}
    result = promtool(tmp_path, expressions, "promethoide-host-memory-low", CASES["promethoide-host-memory-low"][1])
    assert result.returncode != 0
