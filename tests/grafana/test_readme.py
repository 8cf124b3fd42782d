"""grafana/README.md restates the dashboards, the alert rules and the pinned versions: held to them."""

import dataclasses
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.support.alert_docs import Alert, alert_table_problems, grafana_alerts, prometheus_alerts
from tests.support.compose import ROOT, services
from tests.support.markdown import Table, code_spans, table

GRAFANA = ROOT / "grafana"
README = GRAFANA / "README.md"
RULES = GRAFANA / "provisioning" / "alerting" / "rules.yaml"


def alert_table() -> Table:
    return table(README, "alert", "condition (PromQL)", "threshold", "for", "emailed to")


# ---------------------------------------------------------------------------------------------
# Alerts


def test_the_alert_table_is_the_rules() -> None:
    assert alert_table_problems(alert_table(), grafana_alerts(RULES)) == []


def _changed(alerts: list[Alert], title: str, **changes: object) -> list[Alert]:
    return [dataclasses.replace(a, **changes) if a.title == title else a for a in alerts]  # type: ignore[arg-type]


Mutation = Callable[[list[Alert]], list[Alert]]
MUTATIONS: list[tuple[str, Mutation, str]] = [
    ("rule dropped", lambda a: [x for x in a if x.title != "API down"], "API down: listed, but no such rule"),
    ("rule added", lambda a: [*a, Alert("Disk on fire", "x > 1", 60, "operations", "critical")],
     "Disk on fire: a rule the table does not list"),
    ("for changed", lambda a: _changed(a, "Host memory low", for_s=600), "Host memory low: the table says for 5m"),
    ("team changed", lambda a: _changed(a, "Smoke test failing", team="operations"), "emailed to 'developers (critical)'"),
    ("severity changed", lambda a: _changed(a, "API replica down", severity="critical"), "'operations (warning)'"),
    ("threshold changed", lambda a: _changed(a, "Operator page slow", expr='probe_duration_seconds > 2'),
     "Operator page slow: the table's threshold 1"),
    ("percent threshold changed", lambda a: _changed(a, "API 5xx ratio high", expr="errors / requests > 0.01"),
     "API 5xx ratio high: the table's threshold 5%"),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in MUTATIONS], ids=[d for d, _, _ in MUTATIONS])
def test_each_alert_table_check_bites(mutate: Mutation, expected: str) -> None:
    problems = alert_table_problems(alert_table(), mutate(grafana_alerts(RULES)))
    assert any(expected in problem for problem in problems), problems


def test_the_check_reads_prometheus_rule_files_too(tmp_path: Path) -> None:
    # The same rules written as a Prometheus rule file: what the table will be held to once alerts move.
    rules = [{"alert": a.title, "expr": a.expr, "for": f"{int(a.for_s)}s",
              "labels": {"team": a.team, "severity": a.severity}} for a in grafana_alerts(RULES)]
    path = tmp_path / "alerts.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "promethoide", "rules": [*rules, {"record": "x", "expr": "1"}]}]}))
    assert prometheus_alerts([path]) == grafana_alerts(RULES)
    assert alert_table_problems(alert_table(), prometheus_alerts([path])) == []


# ---------------------------------------------------------------------------------------------
# Dashboards and files


def test_the_dashboard_table_is_the_generated_dashboards() -> None:
    uids = {json.loads(path.read_text())["uid"] for path in (GRAFANA / "dashboards").glob("*.json")}
    cells = table(README, "dashboard (uid)", "what it shows").column("dashboard (uid)")
    listed = [code_spans(cell)[-1] for cell in cells]
    assert sorted(listed) == sorted(uids)


def test_every_listed_path_exists_and_every_provisioning_folder_is_listed() -> None:
    listed = [code_spans(cell)[0] for cell in table(README, "path", "what").column("path")]
    for path in listed:
        assert list(GRAFANA.glob(path.rstrip("/"))), f"{path} does not exist"
    folders = {path.relative_to(GRAFANA).as_posix() for path in (GRAFANA / "provisioning").iterdir() if path.is_dir()}
    covered = {folder for folder in folders if any(p.rstrip("/") == folder or p.startswith(folder + "/") for p in listed)}
    assert covered == folders


def test_the_datasource_facts_are_the_files() -> None:
    (datasource,) = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())["datasources"]
    scrape = yaml.safe_load((ROOT / "prometheus/prometheus.yml").read_text())["global"]["scrape_interval"]
    row = next(r["what"] for r in table(README, "path", "what").records() if "datasources/prometheus.yaml" in r["path"])
    assert f"uid `{datasource['uid']}`" in row
    assert datasource["jsonData"]["timeInterval"] == scrape and f"({scrape})" in row


def test_the_sdk_pin_and_schema_version_are_the_real_ones() -> None:
    pin = re.search(r"^grafana-foundation-sdk==(\S+)$", (ROOT / "tests/requirements.txt").read_text(), re.M)
    assert pin
    stated = set(re.findall(r"(\d{10}!\d+\.\d+\.\d+)", README.read_text()))
    assert stated == {pin[1]}
    versions = {json.loads(path.read_text())["schemaVersion"] for path in (GRAFANA / "dashboards").glob("*.json")}
    assert {int(v) for v in re.findall(r"schemaVersion (\d+)", README.read_text())} == versions


# The README's sentence: "postgres-exporter 0.11 and 0.20, node-exporter 1.5 and 1.12, ...":
# the first is Debian's (what ./test.sh runs), the second the compose image's.
EXPORTERS = {
    "postgres-exporter": ("prometheus-postgres-exporter", "postgres-exporter"),
    "node-exporter": ("prometheus-node-exporter", "node-exporter"),
    "apache-exporter": ("prometheus-apache-exporter", "apache-exporter"),
    "blackbox": ("prometheus-blackbox-exporter", "blackbox-exporter"),
}


@pytest.mark.parametrize("name", sorted(EXPORTERS))
def test_the_exporter_versions_are_debian_s_and_the_image_s(name: str) -> None:
    package, service = EXPORTERS[name]
    stated = re.search(rf"{name}\s+(\d+\.\d+)\s+and\s+(\d+\.\d+)", README.read_text())
    assert stated, f"the README names no versions for {name}"
    image = re.search(r":v?(\d+\.\d+)", services()[service]["image"])
    assert image and stated[2] == image[1], f"{name}: README {stated[2]}, compose {services()[service]['image']}"
    debian = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    assert debian.returncode == 0, f"{package} is not installed (./test.sh installs it)"
    assert re.match(rf"{re.escape(stated[1])}\.", debian.stdout), f"{name}: README {stated[1]}, Debian {debian.stdout}"
