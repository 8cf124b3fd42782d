"""Every provisioning file passes the checks Grafana makes at start-up and those it skips; each check bites."""

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.grafana import provisioning
from tests.grafana.provisioning import Provisioning, expand, load, parsed, problems, route, yaml_problems
from tests.grafana.queries import alert_rules, dashboards
from tests.support.compose import example_env

RULES = "provisioning/alerting/rules.yaml"
NOTIFICATIONS = "provisioning/alerting/notifications.yaml"
DATASOURCES = "provisioning/datasources/prometheus.yaml"
PROVIDERS = "provisioning/dashboards/dashboards.yaml"


@pytest.fixture(scope="module")
def repository() -> Provisioning:
    """The repository's grafana/ as Grafana would load it, documents parsed."""
    return parsed(load())


def test_the_repository_has_no_problems() -> None:
    assert problems(load()) == []


def test_every_provisioning_directory_is_read(repository: Provisioning) -> None:
    # Guards the check above against vacuous success (a moved directory would leave nothing to check).
    assert DATASOURCES in repository.datasources and PROVIDERS in repository.providers
    assert {RULES, NOTIFICATIONS} <= set(repository.alerting)
    assert len(repository.dashboards) == 7


# ---------------------------------------------------------------------------------------------
# Each check, on a broken copy


def rule(found: Provisioning, uid: str) -> dict[str, Any]:
    """A rule of the copy, by uid."""
    return next(r for group in found.alerting[RULES]["groups"] for r in group["rules"] if r["uid"] == uid)


def panel(found: Provisioning, name: str, panel_id: int) -> dict[str, Any]:
    """A panel of a dashboard of the copy."""
    return next(p for p in found.dashboards[name]["panels"] if p["id"] == panel_id)


def step(found: Provisioning, uid: str, ref: str) -> dict[str, Any]:
    """A data step of a rule of the copy."""
    return next(s for s in rule(found, uid)["data"] if s["refId"] == ref)


def contact(found: Provisioning, index: int = 0) -> dict[str, Any]:
    """A receiver of the copy's contact points."""
    return found.alerting[NOTIFICATIONS]["contactPoints"][index]["receivers"][0]  # type: ignore[no-any-return]


def policy(found: Provisioning) -> dict[str, Any]:
    """The copy's policy tree."""
    return found.alerting[NOTIFICATIONS]["policies"][0]  # type: ignore[no-any-return]


API_DOWN = "promethoide-api-down"
Mutation = Callable[[Provisioning], Any]

MUTATIONS: list[tuple[str, Mutation, str]] = [
    # datasources
    ("datasource without uid", lambda f: f.datasources[DATASOURCES]["datasources"][0].pop("uid"), "uid must be pinned"),
    ("misspelt datasource key", lambda f: f.datasources[DATASOURCES]["datasources"][0].update(isdefault=True),
     "unknown key 'isdefault'"),
    ("two defaults", lambda f: f.datasources[DATASOURCES]["datasources"].append(
        {**f.datasources[DATASOURCES]["datasources"][0], "uid": "other", "name": "Other"}), "isDefault: true"),
    ("bad timeInterval", lambda f: f.datasources[DATASOURCES]["datasources"][0]["jsonData"].update(timeInterval="15"),
     "not a duration"),
    # dashboard provider
    ("provider path not mounted", lambda f: f.providers[PROVIDERS]["providers"][0]["options"].update(
        path="/var/lib/grafana/dashboards"), "not where compose mounts"),
    ("duplicate provider", lambda f: f.providers[PROVIDERS]["providers"].append(
        f.providers[PROVIDERS]["providers"][0]), "provider name 'promethoide' is used twice"),
    ("folderUid misspelt", lambda f: f.providers[PROVIDERS]["providers"][0].update(folderUID="x"),
     "unknown key 'folderUID'"),
    ("string boolean", lambda f: f.providers[PROVIDERS]["providers"][0].update(disableDeletion="yes"),
     "is not true/false"),
    # dashboards
    ("Angular panel", lambda f: panel(f, "api.json", 9).update(type="graph"), "not a React panel"),
    ("off the grid", lambda f: panel(f, "api.json", 9)["gridPos"].update(x=20), "off the 24-column grid"),
    ("overlapping panels", lambda f: panel(f, "api.json", 10)["gridPos"].update(x=6), "overlaps"),
    ("duplicate panel id", lambda f: panel(f, "api.json", 10).update(id=9), "panel id 9 is used twice"),
    ("unknown datasource", lambda f: panel(f, "api.json", 9)["targets"][0]["datasource"].update(uid="prometheus"),
     "not provisioned"),
    ("DS placeholder", lambda f: panel(f, "api.json", 9).update(datasource={"type": "prometheus",
                                                                             "uid": "${DS_PROMETHEUS}"}),
     "${DS_...}"),
    ("duplicate refId", lambda f: panel(f, "api.json", 10)["targets"][1].update(refId="A"), "refId 'A' is used twice"),
    ("multi variable with =", lambda f: panel(f, "api.json", 9)["targets"][0].update(
        expr='sum(rate(http_request_duration_seconds_count{instance="$instance"}[$__rate_interval]))'),
     "match it with =~"),
    ("fixed rate window", lambda f: panel(f, "api.json", 9)["targets"][0].update(
        expr="sum(rate(http_request_duration_seconds_count[5m]))"), "use $__rate_interval"),
    ("undeclared variable", lambda f: panel(f, "api.json", 9)["targets"][0].update(
        expr='up{job=~"$jobs"}'), "not a template variable"),
    ("old schema", lambda f: f.dashboards["api.json"].update(schemaVersion=27), "outside 36-41"),
    ("duplicate uid", lambda f: f.dashboards["host.json"].update(uid="promethoide-api"), "uid 'promethoide-api'"),
    ("duplicate title", lambda f: f.dashboards["host.json"].update(title="Promethoide / API"),
     "title 'Promethoide / API' is used twice"),
    ("empty title", lambda f: f.dashboards["host.json"].update(title=""), "empty title"),
    ("repeat over a single-value variable", lambda f: panel(f, "api.json", 9).update(repeat="nope"),
     "no multi-value variable"),
    # rules
    ("condition names no step", lambda f: rule(f, API_DOWN).update(condition="D"), "condition 'D'"),
    ("duplicate refIds", lambda f: step(f, API_DOWN, "C").update(refId="B"), "refId 'B' is used twice"),
    ("unprovisioned datasource", lambda f: step(f, API_DOWN, "A").update(datasourceUid="prometheus"),
     "datasourceUid 'prometheus' is not provisioned"),
    ("math reads a missing step", lambda f: step(f, API_DOWN, "C")["model"].update(expression="$D > 0"),
     "reads 'D'"),
    ("unknown reducer", lambda f: step(f, API_DOWN, "B")["model"].update(reducer="latest"), "reducer 'latest'"),
    ("bad expression type", lambda f: step(f, API_DOWN, "B")["model"].update(type="reduction"),
     "expression type 'reduction'"),
    ("threshold with two conditions", lambda f: step(f, API_DOWN, "C").update(model={
        "refId": "C", "type": "threshold", "expression": "B",
        "conditions": [{"evaluator": {"type": "gt", "params": [0]}}] * 2}), "exactly one condition"),
    ("threshold evaluator unknown", lambda f: step(f, API_DOWN, "C").update(model={
        "refId": "C", "type": "threshold", "expression": "B",
        "conditions": [{"evaluator": {"type": "above", "params": [0]}}]}), "evaluator type 'above'"),
    ("bad noDataState", lambda f: rule(f, API_DOWN).update(noDataState="Ok"), "noDataState 'Ok'"),
    ("interval not a multiple of 10s", lambda f: f.alerting[RULES]["groups"][0].update(interval="45s"),
     "multiple of 10s"),
    ("for not a multiple of the interval", lambda f: rule(f, API_DOWN).update(**{"for": "45s"}),
     "no multiple of the group interval"),
    ("missing folder", lambda f: f.alerting[RULES]["groups"][0].pop("folder"), "name and folder are required"),
    ("duplicate rule uid", lambda f: rule(f, "promethoide-apache-down").update(uid=API_DOWN),
     f"rule uid {API_DOWN!r} is used twice"),
    ("unknown rule key", lambda f: rule(f, API_DOWN).update(pending="1m"), "unknown key 'pending'"),
    ("$$ in an annotation", lambda f: rule(f, API_DOWN)["annotations"].update(summary="{{ $$labels.job }}"),
     "not env-expanded"),
    ("$labels in a label", lambda f: rule(f, API_DOWN)["labels"].update(job="{{ $labels.job }}"),
     "$labels is unset or empty"),
    ("panel link to nothing", lambda f: rule(f, API_DOWN).update(panelId=99), "panelId 99"),
    ("dashboard link to nothing", lambda f: rule(f, API_DOWN).update(dashboardUid="nope"), "no provisioned dashboard"),
    ("unknown receiver in rule", lambda f: rule(f, API_DOWN).update(notification_settings={"receiver": "ops"}),
     "receiver 'ops'"),
    # contact points, templates, policies
    ("address variable unset", lambda f: contact(f)["settings"].update(addresses="${ALERT_EMAIL_OPS}"),
     "addresses expand to nothing"),
    ("not an address", lambda f: contact(f)["settings"].update(addresses="operations"), "not an email address"),
    ("undefined template", lambda f: contact(f)["settings"].update(subject='{{ template "nope" . }}'),
     "template 'nope'"),
    ("unclosed template block", lambda f: f.alerting[NOTIFICATIONS]["templates"][0].update(
        template='{{ define "promethoide.subject" }}{{ if .Alerts }}x'), "never closed"),
    ("duplicate receiver uid", lambda f: contact(f, 1).update(uid=contact(f, 0)["uid"]),
     "receiver uid 'promethoide-email-operations' is used twice"),
    ("policy to an unknown receiver", lambda f: policy(f)["routes"][0].update(receiver="ops"), "no contact point"),
    ("root policy to an unknown receiver", lambda f: policy(f).update(receiver="ops"), "root receiver"),
    ("bad matcher operator", lambda f: policy(f)["routes"][0].update(object_matchers=[["team", "==", "x"]]),
     "bad label or operator"),
    ("duplicate group_by", lambda f: policy(f).update(group_by=["alertname", "alertname"]),
     "group_by lists 'alertname' twice"),
    ("bad repeat interval", lambda f: policy(f).update(repeat_interval="4 hours"), "not a duration"),
    ("unknown mute timing", lambda f: policy(f)["routes"][0].update(mute_time_intervals=["nights"]),
     "'nights' is not defined"),
    ("root matchers", lambda f: policy(f).update(object_matchers=[["team", "=", "x"]]),
     "unknown key 'object_matchers'"),
    # files that do not parse
    ("dashboard JSON broken", lambda f: f.dashboards.update({"api.json": '{"title": '}), "not valid JSON"),
    ("alerting YAML broken", lambda f: f.alerting.update({RULES: "groups: [\n"}), "not valid YAML"),
    # compose
    ("provisioning not mounted", lambda f: f.mounts.pop("./grafana/provisioning"), "does not mount"),
    ("an ignored file", lambda f: f.ignored.append("provisioning/alerting/rules.yaml.bak"),
     "does not read this file"),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in MUTATIONS], ids=[d for d, _, _ in MUTATIONS])
def test_a_broken_copy_is_rejected(repository: Provisioning, mutate: Mutation, expected: str) -> None:
    broken = repository.copy()
    mutate(broken)
    found = problems(broken)
    assert any(expected in problem for problem in found), found


def test_files_grafana_would_not_read_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "grafana"
    shutil.copytree(provisioning.GRAFANA, root, ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.md"))
    (root / "provisioning" / "alerting" / "old").mkdir()
    (root / "provisioning" / "alerting" / "old" / "rules.yaml").write_text("apiVersion: 1\n")
    (root / "provisioning" / "datasources" / "loki.yml.disabled").write_text("apiVersion: 1\n")
    assert sorted(p for p in problems(load(root)) if "does not read" in p) == [
        "provisioning/alerting/old/rules.yaml: Grafana does not read this file (wrong extension or nested)",
        "provisioning/datasources/loki.yml.disabled: Grafana does not read this file (wrong extension or nested)",
    ]


# ---------------------------------------------------------------------------------------------
# YAML read as Grafana's Go YAML reads it


def test_a_bare_equals_sign_is_refused_like_pyyaml_refuses_it() -> None:
    assert "not valid YAML" in yaml_problems("policies.yaml", "routes:\n  - object_matchers: [[team, =, x]]\n")[0]


@pytest.mark.parametrize("word", ["yes", "on", "No", "off"])
def test_yaml_1_1_booleans_are_refused(word: str) -> None:
    assert "write true/false" in yaml_problems("x.yaml", f"editable: {word}\n")[0]


def test_real_booleans_and_quoted_words_pass() -> None:
    assert yaml_problems("x.yaml", "a: true\nb: False\nc: 'yes'\n") == []


# ---------------------------------------------------------------------------------------------
# Environment expansion, as Grafana's provisioning does it


@pytest.mark.parametrize(("value", "expected"), [
    ("${TEAM}@example.org", "ops@example.org"),
    ("$TEAM", "ops"),
    ("$__env{TEAM}", "ops"),
    ("{{ $$labels.instance }}", "{{ $labels.instance }}"),
    ("{{ $labels.instance }}", "{{ .instance }}"),
    ("cost: 5 $", "cost: 5 $"),
])
def test_expansion_matches_grafana(value: str, expected: str) -> None:
    assert expand(value, {"TEAM": "ops"}) == expected


def test_addresses_survive_an_env_file_without_them() -> None:
    env = {key: value for key, value in example_env().items() if not key.startswith("ALERT_EMAIL_")}
    assert problems(load(env=env)) == []


def test_addresses_survive_empty_settings_in_the_env_file() -> None:
    env = {**example_env(), "ALERT_EMAIL_OPERATIONS": "", "ALERT_EMAIL_DEVELOPERS": ""}
    assert problems(load(env=env)) == []


def test_grafana_without_the_variable_would_not_start(repository: Provisioning) -> None:
    # As if compose passed no default: the address expands to "", which is fatal at start-up.
    broken = repository.copy()
    broken.env.pop("ALERT_EMAIL_DEVELOPERS")
    assert any("addresses expand to nothing" in problem for problem in problems(broken))


def test_several_addresses_are_accepted(repository: Provisioning) -> None:
    found = repository.copy()
    found.env["ALERT_EMAIL_OPERATIONS"] = "a@example.org; b@example.org"
    assert problems(found) == []


# ---------------------------------------------------------------------------------------------
# The project's conventions on top of Grafana's rules


def test_every_rule_has_a_severity_and_a_team_that_gets_its_email(repository: Provisioning) -> None:
    teams = {point["name"] for point in repository.alerting[NOTIFICATIONS]["contactPoints"]}
    assert teams == {"operations", "developers"}
    for found in alert_rules():
        labels = found["labels"]
        assert labels["severity"] in {"critical", "warning"}, found["uid"]
        assert labels["team"] in teams, found["uid"]
        assert route(labels, repository.alerting, repository.env) == [labels["team"]], found["uid"]


def test_unlabelled_alerts_still_reach_operations(repository: Provisioning) -> None:
    assert route({"alertname": "DatasourceNoData"}, repository.alerting, repository.env) == ["operations"]


def test_every_rule_is_one_prometheus_step_then_reduce_then_condition() -> None:
    for found in alert_rules():
        kinds = [step.get("model", {}).get("type", step["datasourceUid"]) for step in found["data"]]
        assert kinds == ["promethoide-prometheus", "reduce", "math"], found["uid"]
        assert found["condition"] == found["data"][-1]["refId"]
        assert found["data"][0]["model"]["instant"] is True
        assert found["noDataState"] == "OK" and found["execErrState"] == "Error", found["uid"]


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects."""
    return set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", expr)) - {"by", "without", "on", "ignoring"}


def test_each_rule_links_to_a_panel_showing_its_metrics() -> None:
    models = dashboards()
    for found in alert_rules():
        target = next(p for p in models[found["dashboardUid"]]["panels"] if p["id"] == found["panelId"])
        shown = set().union(*(metric_names(t["expr"]) for t in target["targets"]))
        assert metric_names(found["data"][0]["model"]["expr"]) & shown, (found["uid"], target["title"])


def test_the_issue_s_alerts_are_all_there() -> None:
    titles = {found["title"] for found in alert_rules()}
    assert {"API down", "Apache down", "PostgreSQL down", "Operator page slow", "API p95 latency above objective",
            "API 5xx ratio high", "Smoke test failing", "Smoke test stale", "Host disk almost full",
            "Host memory low"} <= titles


def test_the_readme_lists_every_dashboard_and_alert() -> None:
    readme = (provisioning.GRAFANA / "README.md").read_text()
    for uid in dashboards():
        assert f"(`{uid}`)" in readme, uid
    for found in alert_rules():
        assert f"| {found['title']} |" in readme, found["title"]


def test_provisioning_module_reads_what_compose_mounts() -> None:
    assert provisioning.grafana_mounts()["./grafana/dashboards"] == "/etc/grafana/dashboards"
