"""prometheus/rules/*.yml, prometheus/runbooks/*.md and the README's tables are what the specs generate, and
promtool accepts the rules; every rule carries the labels and annotations the contract fixes."""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from prometheus.rulegen import render_all
from prometheus.rulegen.panels import SITE_OF_THE_ALERT, PanelNotFound, panel_path
from prometheus.rulegen.spec import PanelRef, load_alerts
from tests.support.compose import ROOT, services

RULES_DIR = ROOT / "prometheus" / "rules"
PROMTOOL = "/usr/bin/promtool"
# The alert names issue 10's contract fixes (the SLO ones are named in slos.yaml).
CONTRACT_ALERTS = {
    "ApiDown", "ApiReplicaDown", "ApacheDown", "PostgresqlDown", "ProbeFailing", "OperatorPageSlow",
    "SlowPageSlowerThanDesigned", "SmokeTestFailing", "SmokeTestStale", "HostDiskAlmostFull", "HostMemoryLow",
    "Watchdog", "AlertmanagerDown", "GrafanaDown", "PushgatewayDown", "SmtpSinkDown", "ExporterDown",
    "PrometheusAlertmanagerNotificationsFailing", "AlertmanagerNotificationsFailing",
    "PrometheusRuleEvaluationFailures", "PrometheusConfigReloadFailed", "AlertmanagerConfigReloadFailed",
    "PrometheusStorageAlmostFull",
}
ANNOTATIONS = {"title", "summary", "description", "runbook_url", "dashboard_url"}


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def alerting_rules() -> list[dict[str, Any]]:
    """Every alerting rule of the committed rule files."""
    return [rule for path in rule_files() for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule]


def stale_files(root: Path) -> list[str]:
    """Generated files missing under `root` or different there."""
    return sorted(str(path) for path, text in render_all().items()
                  if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text)


def test_committed_files_are_what_the_specs_generate() -> None:
    stale = stale_files(ROOT)
    assert not stale, f"stale {stale}: run `python -m prometheus.rulegen` and commit the result"


def test_no_rule_file_or_runbook_without_a_spec() -> None:
    generated = set(render_all())
    on_disk = {path.relative_to(ROOT) for path in (*rule_files(), *(ROOT / "prometheus" / "runbooks").glob("*"))}
    assert on_disk <= generated, f"left over: {sorted(map(str, on_disk - generated))}"


def test_a_stale_or_missing_file_is_noticed(tmp_path: Path) -> None:
    for path, text in render_all().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    assert stale_files(tmp_path) == []
    rules = tmp_path / "prometheus/rules/alerts.yml"
    rules.write_text(rules.read_text().replace("for: 1m", "for: 5m", 1))
    (tmp_path / "prometheus/runbooks/ApiDown.md").unlink()
    assert stale_files(tmp_path) == ["prometheus/rules/alerts.yml", "prometheus/runbooks/ApiDown.md"]


def test_promtool_accepts_every_rule_file() -> None:
    result = subprocess.run([PROMTOOL, "check", "rules", *map(str, rule_files())], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {path.name for path in rule_files()} == {"alerts.yml", "slo.yml"}


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"alert": "X", "expr": "sum(up"}]}]}))
    assert subprocess.run([PROMTOOL, "check", "rules", str(broken)], capture_output=True).returncode != 0


def test_every_alert_of_the_contract_exists() -> None:
    assert CONTRACT_ALERTS <= {rule["alert"] for rule in alerting_rules()}


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: f"{rule['alert']}-{rule['labels']['severity']}")
def test_labels_and_annotations(rule: dict[str, Any]) -> None:
    labels, annotations = rule["labels"], rule["annotations"]
    assert labels["severity"] in {"critical", "warning", "info"}
    assert labels["team"] in {"operations", "developers", "heartbeat"}
    assert (labels["team"] == "heartbeat") == (rule["alert"] == "Watchdog")
    # `service` is a compose service; where the expression sets it, the promtool cases check its values.
    if "service" in labels:
        assert labels["service"] in services()
    else:
        assert '"service"' in rule["expr"], "no service label, and the expression does not set one"
    assert set(annotations) == ANNOTATIONS
    assert all(str(value).strip() for value in annotations.values())


def has_site_variable(model: dict[str, Any]) -> bool:
    return any(variable["name"] == "site" for variable in model.get("templating", {}).get("list", []))


def panel_of(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dashboard and panel a /d/<uid>?viewPanel=<id> path opens, from grafana/dashboards/*.json."""
    match = re.fullmatch(r"/d/([a-z-]+)\?viewPanel=([0-9]+)(?P<site>&var-site=.*)?", path)
    assert match, path
    for dashboard_file in (ROOT / "grafana" / "dashboards").glob("*.json"):
        model = yaml.safe_load(dashboard_file.read_text())
        if model["uid"] == match.group(1):
            assert match["site"] in (None, SITE_OF_THE_ALERT), path
            assert not match["site"] or has_site_variable(model), f"{path}: the dashboard has no site variable"
            panels = [p for top in model["panels"] for p in (top, *top.get("panels", []))]
            found = [p for p in panels if p["id"] == int(match.group(2)) and p["type"] != "row"]
            assert len(found) == 1, path
            return model, found[0]
    raise AssertionError(f"no dashboard with uid {match.group(1)}")


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: f"{rule['alert']}-{rule['labels']['severity']}")
def test_links_open_an_existing_panel(rule: dict[str, Any]) -> None:
    dashboard, _ = panel_of(rule["annotations"]["dashboard_url"])
    # A dashboard with the site variable opens on the alert's site (every site if it has no such label).
    assert rule["annotations"]["dashboard_url"].endswith(SITE_OF_THE_ALERT) == has_site_variable(dashboard)
    dashboard, panel = panel_of(rule["annotations"]["runbook_url"])
    assert dashboard["uid"] == "promethoide-runbooks"
    assert panel["title"] == rule["alert"] and panel["type"] == "text"


def test_a_panel_that_does_not_exist_is_refused() -> None:
    with pytest.raises(PanelNotFound):
        panel_path(PanelRef(dashboard="api", title="No such panel"))
    with pytest.raises(PanelNotFound):
        panel_path(PanelRef(dashboard="nope", title="Replicas up"))


def test_every_spec_panel_resolves() -> None:
    for group in load_alerts().groups:
        for alert in group.alerts:
            assert panel_path(alert.panel).startswith("/d/promethoide-")
