"""Every provisioning file passes the checks Grafana makes at start-up and those it skips; each check bites."""

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.grafana import provisioning
from tests.grafana.provisioning import Provisioning, expand, load, parsed, problems, yaml_problems
from tests.grafana.queries import dashboards

DATASOURCES = "provisioning/datasources/prometheus.yaml"
ALERTMANAGER = "provisioning/datasources/alertmanager.yaml"
PROVIDERS = "provisioning/dashboards/dashboards.yaml"


@pytest.fixture(scope="module")
def repository() -> Provisioning:
    """The repository's grafana/ as Grafana would load it, documents parsed."""
    return parsed(load())


def test_the_repository_has_no_problems() -> None:
    assert problems(load()) == []


def test_every_provisioning_directory_is_read(repository: Provisioning) -> None:
    # Guards the check above against vacuous success (a moved directory would leave nothing to check).
    assert {DATASOURCES, ALERTMANAGER} <= set(repository.datasources) and PROVIDERS in repository.providers
    assert repository.alerting == {}
    assert len(repository.dashboards) == 9


# ---------------------------------------------------------------------------------------------
# Each check, on a broken copy


def panel(found: Provisioning, name: str, panel_id: int) -> dict[str, Any]:
    """A panel of a dashboard of the copy."""
    return next(p for p in found.dashboards[name]["panels"] if p["id"] == panel_id)


def alertmanager(found: Provisioning) -> dict[str, Any]:
    """The copy's Alertmanager datasource."""
    return found.datasources[ALERTMANAGER]["datasources"][0]  # type: ignore[no-any-return]


Mutation = Callable[[Provisioning], Any]

MUTATIONS: list[tuple[str, Mutation, str]] = [
    # datasources
    ("datasource without uid", lambda f: f.datasources[DATASOURCES]["datasources"][0].pop("uid"), "uid must be pinned"),
    ("misspelt datasource key", lambda f: f.datasources[DATASOURCES]["datasources"][0].update(isdefault=True),
     "unknown key 'isdefault'"),
    ("two defaults", lambda f: f.datasources[DATASOURCES]["datasources"].append(
        {**f.datasources[DATASOURCES]["datasources"][0], "uid": "other", "name": "Other"}), "isDefault: true"),
    # the Alertmanager datasource
    ("alertmanager implementation unset", lambda f: alertmanager(f)["jsonData"].pop("implementation"),
     "Grafana then assumes Mimir's API"),
    ("alertmanager implementation unknown", lambda f: alertmanager(f)["jsonData"].update(implementation="alertmanager"),
     "'alertmanager' is not one of"),
    ("alertmanager of another implementation", lambda f: alertmanager(f)["jsonData"].update(implementation="mimir"),
     "not 'prometheus'"),
    ("Grafana's own rules sent to Alertmanager too", lambda f: alertmanager(f)["jsonData"].update(
        handleGrafanaManagedAlerts=True), "handleGrafanaManagedAlerts: false"),
    ("handleGrafanaManagedAlerts unset", lambda f: alertmanager(f)["jsonData"].pop("handleGrafanaManagedAlerts"),
     "handleGrafanaManagedAlerts: false"),
    ("handleGrafanaManagedAlerts a string", lambda f: alertmanager(f)["jsonData"].update(
        handleGrafanaManagedAlerts="false"), "is not true/false"),
    ("alertmanager without url", lambda f: alertmanager(f).pop("url"), "needs a url"),
    ("alertmanager as the default", lambda f: alertmanager(f).update(isDefault=True), "must not be the default"),
    ("alertmanager without uid", lambda f: alertmanager(f).pop("uid"), "uid must be pinned"),
    ("no alertmanager datasource", lambda f: f.datasources.pop(ALERTMANAGER), "0 alertmanager datasources"),
    ("two alertmanager datasources", lambda f: f.datasources[ALERTMANAGER]["datasources"].append(
        {**alertmanager(f), "uid": "other-am", "name": "Other"}), "2 alertmanager datasources"),
    # one alert path: no Grafana-managed rules or contact points beside Prometheus's
    ("Grafana-managed rules", lambda f: f.alerting.update({"provisioning/alerting/rules.yaml": {
        "apiVersion": 1, "groups": []}}), "Grafana-managed alerting is provisioned"),
    ("Grafana contact points", lambda f: f.alerting.update({"provisioning/alerting/contact.yml": {
        "apiVersion": 1, "contactPoints": []}}), "mail every alert twice"),
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
    ("duplicate refId", lambda f: panel(f, "api.json", 18)["targets"][1].update(refId="A"), "refId 'A' is used twice"),
    ("multi variable with =", lambda f: panel(f, "api.json", 9)["targets"][0].update(
        expr='sum(rate(http_request_duration_seconds_count{instance="$instance"}[$__rate_interval]))'),
     "match it with =~"),
    ("fixed rate window", lambda f: panel(f, "api.json", 9)["targets"][0].update(
        expr="sum(rate(http_request_duration_seconds_count[5m]))"), "use $__rate_interval"),
    ("fixed window beside a last_over_time horizon", lambda f: panel(f, "api.json", 9)["targets"][0].update(
        expr="max_over_time(up[1d]) - last_over_time(up[1d])"), "range [1d]: use $__rate_interval"),
    ("undeclared variable", lambda f: panel(f, "api.json", 9)["targets"][0].update(
        expr='up{job=~"$jobs"}'), "not a template variable"),
    ("old schema", lambda f: f.dashboards["api.json"].update(schemaVersion=27), "outside 36-41"),
    ("duplicate uid", lambda f: f.dashboards["host.json"].update(uid="promethoide-api"), "uid 'promethoide-api'"),
    ("duplicate title", lambda f: f.dashboards["host.json"].update(title="Promethoide / API"),
     "title 'Promethoide / API' is used twice"),
    ("empty title", lambda f: f.dashboards["host.json"].update(title=""), "empty title"),
    ("repeat over a single-value variable", lambda f: panel(f, "api.json", 9).update(repeat="nope"),
     "no multi-value variable"),
    # files that do not parse
    ("dashboard JSON broken", lambda f: f.dashboards.update({"api.json": '{"title": '}), "not valid JSON"),
    ("datasource YAML broken", lambda f: f.datasources.update({ALERTMANAGER: "datasources: [\n"}),
     "not valid YAML"),
    # compose
    ("provisioning not mounted", lambda f: f.mounts.pop("./grafana/provisioning"), "does not mount"),
    ("an ignored file", lambda f: f.ignored.append("provisioning/datasources/loki.yaml.bak"),
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
    (root / "provisioning" / "alerting" / "old").mkdir(parents=True)
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


def test_an_unset_variable_in_a_datasource_is_reported(repository: Provisioning) -> None:
    broken = repository.copy()
    alertmanager(broken)["url"] = "http://${ALERTMANAGER_HOST}:9093"
    assert any("$ALERTMANAGER_HOST is unset" in problem for problem in problems(broken))


# ---------------------------------------------------------------------------------------------
# The project's conventions on top of Grafana's rules


def test_the_readme_lists_every_dashboard() -> None:
    readme = (provisioning.GRAFANA / "README.md").read_text()
    for uid in dashboards():
        assert f"(`{uid}`)" in readme, uid


def test_provisioning_module_reads_what_compose_mounts() -> None:
    assert provisioning.grafana_mounts()["./grafana/dashboards"] == "/etc/grafana/dashboards"
