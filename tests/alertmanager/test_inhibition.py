"""The inhibition rules of alertmanager/alertmanager.yml, on Debian's real Alertmanager (0.25) started
through entrypoint.sh: a cause silences its consequences, and nothing else.

Each case posts a cause and its would-be consequences to a fresh Alertmanager, waits until the first
consequence shows as inhibited (proof that the inhibitor has seen the cause), then checks every other
one. amtool cannot test inhibition offline; the API's /api/v2/alerts reports `status.inhibitedBy`.
"""

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.compose import ROOT
from tests.support.processes import free_port, stop_group, wait_until

ENTRYPOINT = ROOT / "alertmanager" / "entrypoint.sh"
BINARY = "/usr/bin/prometheus-alertmanager"


def rule_labels() -> dict[tuple[str, str], dict[str, str]]:
    """(alert, severity) -> the labels the generated rules give it."""
    return {(rule["alert"], rule["labels"]["severity"]): {"alertname": rule["alert"], **rule["labels"]}
            for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule}


RULES = rule_labels()


def alert(name: str, severity: str | None = None, **extra: str) -> dict[str, str]:
    """The labels of a firing alert as the rules make it (the only severity, unless told), plus `extra`."""
    matches = [labels for (alertname, sev), labels in RULES.items()
               if alertname == name and severity in (None, sev)]
    assert len(matches) == 1, f"{name} {severity}: {len(matches)} rules"
    return {**matches[0], **extra}


@dataclass(frozen=True)
class Case:
    """A cause, the alerts it must inhibit (the first proves the inhibitor saw it) and those it must not.

    Only the cause may be a source of some inhibition rule: another source would muddle the verdict.
    """

    name: str
    cause: dict[str, str]
    inhibited: list[dict[str, str]]
    untouched: list[dict[str, str]] = field(default_factory=list)


BURN = {"route_group": "lookups", "slo": "api-latency"}
CASES = [
    Case("the API down silences its latency, errors, replicas and the flow",
         alert("ApiDown"),
         [alert("ApiLatencyBudgetBurn", "critical", **BURN),
          alert("ApiAvailabilityBudgetBurn", "warning", slo="api-availability", route_group="registrations"),
          alert("ApiReplicaDown", instance="10.0.0.3:8000"), alert("SmokeTestFailing", scenario="web_workflow"),
          alert("SmokeTestStale"), alert("OperatorFlowBudgetBurn", "critical", slo="operator-flow"),
          alert("ProbeFailing", instance="http://apache:80/api/readyz", service="apache")],
         [alert("ProbeFailing", instance="http://apache:80/", service="apache"), alert("HostMemoryLow"),
          alert("ExporterDown", service="node-exporter")]),
    Case("PostgreSQL down silences what follows from it",
         alert("PostgresqlDown"),
         [alert("ApiAvailabilityBudgetBurn", "critical", slo="api-availability", route_group="lookups"),
          alert("ApiLatencyBudgetBurn", "warning", **BURN), alert("SmokeTestFailing", scenario="web_workflow"),
          alert("OperatorFlowBudgetBurn", "warning", slo="operator-flow"),
          alert("ProbeFailing", instance="http://apache:80/api/readyz", service="apache")],
         [alert("ApiReplicaDown", instance="10.0.0.3:8000")]),
    Case("Apache down silences the page's alerts and the flow",
         alert("ApacheDown"),
         [alert("OperatorPageSlow"), alert("SlowPageSlowerThanDesigned"),
          alert("ProbeFailing", instance="http://apache:80/", service="apache"),
          alert("SmokeTestStale"), alert("OperatorFlowBudgetBurn", "critical", slo="operator-flow")],
         [alert("ApiReplicaDown", instance="10.0.0.3:8000"),
          alert("ApiAvailabilityBudgetBurn", "critical", slo="api-availability", route_group="lookups")]),
    Case("the Pushgateway down silences the stale smoke test",
         alert("PushgatewayDown"),
         [alert("SmokeTestStale")],
         [alert("SmokeTestFailing", scenario="web_workflow")]),
    Case("a page silences the ticket of the same objective only",
         alert("ApiLatencyBudgetBurn", "critical", **BURN),
         [alert("ApiLatencyBudgetBurn", "warning", **BURN)],
         [alert("ApiLatencyBudgetBurn", "warning", slo="api-latency", route_group="registrations"),
          alert("ApiAvailabilityBudgetBurn", "warning", slo="api-availability", route_group="lookups"),
          alert("HostDiskAlmostFull", mountpoint="/")]),
]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager started through entrypoint.sh on a free port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        ["/bin/dash", str(ENTRYPOINT), f"--config.file={tmp_path}/config/alertmanager.yml",
         f"--storage.path={tmp_path}/data", f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
         f"--web.external-url={url}"],
        env={**os.environ, "ALERTMANAGER_BIN": BINARY,
             # Nothing listens there: deliveries fail, which inhibition does not care about.
             "SMTP_SMARTHOST": "127.0.0.1:9"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def ready() -> bool:
        assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
        try:
            return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_until(ready, timeout=60, what="Alertmanager ready")
        yield url
    finally:
        stop_group(process)
        log.close()


def inhibited_by(url: str) -> dict[frozenset[tuple[str, str]], list[str]]:
    """Every alert Alertmanager holds (its labels) -> the fingerprints of the alerts inhibiting it."""
    response = httpx.get(f"{url}/api/v2/alerts", timeout=10)
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()
    return {frozenset(a["labels"].items()): a["status"]["inhibitedBy"] for a in alerts}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_inhibition(alertmanager: str, case: Case) -> None:
    posted = [case.cause, *case.inhibited, *case.untouched]
    httpx.post(f"{alertmanager}/api/v2/alerts", json=[{"labels": labels} for labels in posted],
               timeout=10).raise_for_status()
    first = frozenset(case.inhibited[0].items())
    wait_until(lambda: bool(inhibited_by(alertmanager).get(first)), timeout=60,
               what=f"{case.inhibited[0]['alertname']} inhibited by {case.cause['alertname']}")
    status = inhibited_by(alertmanager)
    assert len(status) == len(posted), "every posted alert is held"
    wrong = [labels for labels in case.inhibited if not status[frozenset(labels.items())]]
    wrong += [labels for labels in case.untouched if status[frozenset(labels.items())]]
    assert not wrong, f"wrongly (not) inhibited: {wrong}"
    assert not status[frozenset(case.cause.items())], "the cause itself is never inhibited"
