"""`promtool test rules` cases for the threshold alerts of prometheus/rules/alerts.yml: each rule fires on
series that break it and stays silent on healthy ones (the Watchdog always fires).

The rules are the committed file, never copied here; this module only holds synthetic series and the
labels each case's alert carries beyond the rule's own (severity, team, service are read from the rule).
"""

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.compose import ROOT

PROMTOOL = "/usr/bin/promtool"
RULES = ROOT / "prometheus" / "rules" / "alerts.yml"
STEP = "15s"        # the scrape interval: one sample per series per step
STEPS = 80          # 20 minutes of samples
EVAL_AT = "10m"     # late enough for every 5m window and `for`

API = 'job="api", instance="10.0.0.2:8000"'
APACHE = 'job="apache", instance="apache-exporter:9117"'
POSTGRES = 'job="postgres", instance="postgres-exporter:9187"'
NODE = 'job="node", instance="host.docker.internal:9100", site="centre"'
# A remote site's series, as its agent remote-writes them (site/prometheus-agent.yml).
SITE_NODE = 'job="node", instance="127.0.0.1:9100", site="lisbon"'
SITE_AGENT = 'job="prometheus-agent", instance="127.0.0.1:9099", site="lisbon"'
WRITE_QUEUE = 'remote_name="abc123", url="https://centre:9443/api/v1/write"'
BLACKBOX = 'job="blackbox-exporter", instance="blackbox-exporter:9115"'
PROMETHEUS = 'job="prometheus", instance="prometheus:9090"'
ALERTMANAGER = 'job="alertmanager", instance="alertmanager:9093"'
GRAFANA = 'job="grafana", instance="grafana:3000"'
PUSHGATEWAY = 'job="pushgateway", instance="pushgateway:9091"'
SMOKE = 'job="k6_smoke", scenario="web_workflow"'
PAGE = 'job="blackbox", instance="http://apache:80/", module="http_2xx"'
API_VIA_APACHE = 'job="blackbox", instance="http://apache:80/api/readyz", module="http_2xx"'
# Each API replica's own /healthz probe (job blackbox-api): its instance is the replica's address.
HEALTHZ = 'job="blackbox-api", instance="10.0.0.2:8000", module="http_2xx"'
HEALTHZ_3 = 'job="blackbox-api", instance="10.0.0.3:8000", module="http_2xx"'
DELAY = 'job="blackbox", instance="http://apache:80/delay", module="http_slow"'
SMTP = 'job="blackbox", instance="mailpit:1025", module="smtp_banner"'


@dataclass(frozen=True)
class Case:
    """Synthetic input series (promtool's expanding notation, one sample per `interval`, which is also the
    evaluation interval) and the alerts' own labels expected at `at`."""

    name: str
    series: dict[str, str]
    fires: list[dict[str, str]] = field(default_factory=list)
    at: str = EVAL_AT
    interval: str = STEP


def labels(selector: str, **extra: str) -> dict[str, str]:
    """The labels of a `k="v", ...` selector, as the alert carries them, plus `extra`."""
    return {**dict(yaml.safe_load("{" + selector.replace('="', ': "') + "}")), **extra}


def constant(value: float) -> str:
    """A series holding `value` for the whole test."""
    return f"{value}x{STEPS}"


def growing(per_step: float) -> str:
    """A counter growing by `per_step` every step."""
    return f"0+{per_step}x{STEPS}"


def up(*selectors: str, value: int = 1) -> dict[str, str]:
    """`up` of each target, constant."""
    return {f"up{{{selector}}}": constant(value) for selector in selectors}


def filesystem(mountpoint: str, fstype: str, available: float, readonly: int = 0) -> dict[str, str]:
    """node-exporter's series for one 100 GB filesystem with `available` of it free."""
    selector = f'{NODE}, device="/dev/{mountpoint.strip("/") or "root"}", fstype="{fstype}", mountpoint="{mountpoint}"'
    return {
        f"node_filesystem_avail_bytes{{{selector}}}": constant(available * 100e9),
        f"node_filesystem_size_bytes{{{selector}}}": constant(100e9),
        f"node_filesystem_readonly{{{selector}}}": constant(readonly),
    }


def disk(mountpoint: str, fstype: str) -> dict[str, str]:
    """The labels of a disk alert for one filesystem."""
    return labels(f'{NODE}, device="/dev/{mountpoint.strip("/") or "root"}", fstype="{fstype}", '
                  f'mountpoint="{mountpoint}"')


EXPORTERS = (POSTGRES, APACHE, NODE, BLACKBOX)

CASES: dict[str, list[Case]] = {
    "ApiDown": [
        Case("every replica down", up(API, value=0), [{}]),
        Case("no replica discovered at all", {}, [{}]),
        Case("one replica of two up", {**up(API), **up('job="api", instance="10.0.0.3:8000"', value=0)}),
    ],
    "ApiReplicaDown": [
        Case("one replica not scraped", {**up(API), **up('job="api", instance="10.0.0.3:8000"', value=0)},
             [{"instance": "10.0.0.3:8000"}]),
        Case("one replica failing its own probe", {
            **up(API, 'job="api", instance="10.0.0.3:8000"'),
            f"probe_success{{{HEALTHZ}}}": constant(1), f"probe_success{{{HEALTHZ_3}}}": constant(0)},
             [{"instance": "10.0.0.3:8000"}]),
        # Both checks of one replica failing are one alert, not two.
        Case("one replica neither scraped nor probed", {
            **up(API), **up('job="api", instance="10.0.0.3:8000"', value=0),
            f"probe_success{{{HEALTHZ}}}": constant(1), f"probe_success{{{HEALTHZ_3}}}": constant(0)},
             [{"instance": "10.0.0.3:8000"}]),
        Case("every replica up and passing its probe", {
            **up(API, 'job="api", instance="10.0.0.3:8000"'),
            f"probe_success{{{HEALTHZ}}}": constant(1), f"probe_success{{{HEALTHZ_3}}}": constant(1)}),
    ],
    "ApacheDown": [
        Case("Apache unreachable", {f"apache_up{{{APACHE}}}": constant(0), **up(APACHE)}, [labels(APACHE)]),
        Case("Apache up", {f"apache_up{{{APACHE}}}": constant(1), **up(APACHE)}),
        # The exporter itself down is ExporterDown's.
        Case("only the exporter down", up(APACHE, value=0)),
    ],
    "PostgresqlDown": [
        Case("PostgreSQL unreachable", {f"pg_up{{{POSTGRES}}}": constant(0), **up(POSTGRES)}, [labels(POSTGRES)]),
        Case("PostgreSQL up", {f"pg_up{{{POSTGRES}}}": constant(1), **up(POSTGRES)}),
        Case("only the exporter down", up(POSTGRES, value=0)),
    ],
    "ProbeFailing": [
        # One replica's own probe failing is ApiReplicaDown's (the others serve), never a page.
        Case("one API replica's own probe fails", {f"probe_success{{{HEALTHZ}}}": constant(0),
                                                   f"probe_success{{{HEALTHZ_3}}}": constant(1),
                                                   f"probe_success{{{PAGE}}}": constant(1),
                                                   f"probe_success{{{API_VIA_APACHE}}}": constant(1)}),
        Case("the operator page fails", {f"probe_success{{{PAGE}}}": constant(0)}, [labels(PAGE, service="apache")]),
        Case("the API through Apache fails", {f"probe_success{{{API_VIA_APACHE}}}": constant(0)},
             [labels(API_VIA_APACHE, service="apache")]),
        Case("every HTTP probe succeeds, the SMTP one fails (SmtpSinkDown's)", {
            f"probe_success{{{HEALTHZ}}}": constant(1), f"probe_success{{{DELAY}}}": constant(1),
            f"probe_success{{{SMTP}}}": constant(0)}),
    ],
    "OperatorPageSlow": [
        Case("the page takes 2.5 s", {f"probe_duration_seconds{{{PAGE}}}": constant(2.5)}, [labels(PAGE)]),
        Case("the page is fast, /delay slow by design", {f"probe_duration_seconds{{{PAGE}}}": constant(0.05),
                                                         f"probe_duration_seconds{{{DELAY}}}": constant(2.1)}),
    ],
    "SlowPageSlowerThanDesigned": [
        Case("/delay takes 4 s", {f"probe_duration_seconds{{{DELAY}}}": constant(4)}, [labels(DELAY)]),
        Case("/delay takes its designed 2 s", {f"probe_duration_seconds{{{DELAY}}}": constant(2.05),
                                               f"probe_duration_seconds{{{PAGE}}}": constant(0.05)}),
    ],
    "SignInFailuresBurst": [
        # 2 failures per 15 s scrape: about 40 in 5 minutes.
        Case("someone guessing passwords", {
            f'immigration_sign_ins_total{{{API}, outcome="bad_credentials"}}': growing(2),
            f'immigration_sign_ins_total{{{API}, outcome="success"}}': growing(0.1)}, [{}]),
        Case("a locked-out address still trying", {
            f'immigration_sign_ins_total{{{API}, outcome="bad_credentials"}}': growing(0.5),
            f'immigration_sign_ins_total{{{API}, outcome="locked_out"}}': growing(1)}, [{}]),
        # A shift starting: many sign-ins, a few typos (about 4 in 5 minutes).
        Case("operators signing in, a few typos", {
            f'immigration_sign_ins_total{{{API}, outcome="bad_credentials"}}': growing(0.2),
            f'immigration_sign_ins_total{{{API}, outcome="success"}}': growing(5)}),
    ],
    "SmokeTestFailing": [
        Case("the last runs failed", {f"k6_smoke_success{{{SMOKE}}}": constant(0)}, [labels(SMOKE)]),
        Case("the last runs passed", {f"k6_smoke_success{{{SMOKE}}}": constant(1)}),
    ],
    "SmokeTestStale": [
        # promtool's clock starts at 0: a timestamp of 0 is 10 minutes old at EVAL_AT.
        Case("no success for 10 minutes", {f"k6_smoke_last_success_timestamp_seconds{{{SMOKE}}}": constant(0)},
             [labels(SMOKE)]),
        Case("no success ever pushed", {f"k6_smoke_success{{{SMOKE}}}": constant(0)}, [{"job": "k6_smoke"}]),
        Case("a success a minute ago", {f"k6_smoke_last_success_timestamp_seconds{{{SMOKE}}}": f"-60+15x{STEPS}"}),
    ],
    "HostDiskAlmostFull": [
        Case("root 95% full", {**filesystem("/", "ext4", 0.05), **filesystem("/boot", "ext4", 0.6)},
             [disk("/", "ext4")]),
        Case("full only where it does not matter", {
            **filesystem("/", "ext4", 0.5),
            **filesystem("/run", "tmpfs", 0.01),           # not a disk
            **filesystem("/snap", "ext4", 0.0, readonly=1),  # read-only images are full by design
        }),
    ],
    "HostMemoryLow": [
        Case("5% available", {f"node_memory_MemAvailable_bytes{{{NODE}}}": constant(0.4e9),
                              f"node_memory_MemTotal_bytes{{{NODE}}}": constant(8e9)}, [labels(NODE)]),
        Case("half available", {f"node_memory_MemAvailable_bytes{{{NODE}}}": constant(4e9),
                                f"node_memory_MemTotal_bytes{{{NODE}}}": constant(8e9)}),
    ],
    "Watchdog": [
        Case("fires with nothing at all", {}, [{}]),
        Case("fires on a healthy stack", up(PROMETHEUS, ALERTMANAGER), [{}]),
    ],
    "AlertmanagerDown": [
        Case("not answering", up(ALERTMANAGER, value=0), [labels(ALERTMANAGER)]),
        Case("not scraped at all", up(PROMETHEUS), [{"job": "alertmanager"}]),
        Case("up", up(ALERTMANAGER)),
    ],
    "GrafanaDown": [
        Case("not answering", up(GRAFANA, value=0), [labels(GRAFANA)]),
        Case("not scraped at all", up(PROMETHEUS), [{"job": "grafana"}]),
        Case("up", up(GRAFANA)),
    ],
    "PushgatewayDown": [
        Case("not answering", up(PUSHGATEWAY, value=0), [labels(PUSHGATEWAY)]),
        Case("not scraped at all", up(PROMETHEUS), [{"job": "pushgateway"}]),
        Case("up", up(PUSHGATEWAY)),
    ],
    "SmtpSinkDown": [
        Case("no greeting", {f"probe_success{{{SMTP}}}": constant(0)}, [labels(SMTP)]),
        Case("not probed at all", {f"probe_success{{{PAGE}}}": constant(1)},
             [{"job": "blackbox", "module": "smtp_banner"}]),
        Case("greets", {f"probe_success{{{SMTP}}}": constant(1)}),
    ],
    "ExporterDown": [
        Case("node-exporter down", {**up(POSTGRES, APACHE, BLACKBOX), **up(NODE, value=0)},
             [labels(NODE, service="node-exporter")]),
        Case("a remote site's node-exporter down", {**up(*EXPORTERS), **up(SITE_NODE, value=0)},
             [labels(SITE_NODE, service="node-exporter")]),
        Case("the centre's node job gone, a site's still there", up(POSTGRES, APACHE, BLACKBOX, SITE_NODE),
             [{"job": "node", "site": "centre", "service": "node-exporter"}]),
        Case("postgres job gone from the configuration", up(APACHE, NODE, BLACKBOX),
             [{"job": "postgres", "service": "postgres-exporter"}]),
        Case("every exporter up", up(*EXPORTERS)),
    ],
    "PrometheusAlertmanagerNotificationsFailing": [
        Case("sending fails", {f"prometheus_notifications_errors_total{{{PROMETHEUS}, alertmanager=\"x\"}}":
                               growing(1),
                               f"prometheus_notifications_alertmanagers_discovered{{{PROMETHEUS}}}": constant(1)},
             [labels(PROMETHEUS, alertmanager="x")]),
        Case("no Alertmanager discovered",
             {f"prometheus_notifications_alertmanagers_discovered{{{PROMETHEUS}}}": constant(0)},
             [labels(PROMETHEUS)]),
        Case("sending works", {
            f"prometheus_notifications_errors_total{{{PROMETHEUS}, alertmanager=\"x\"}}": constant(3),
            f"prometheus_notifications_dropped_total{{{PROMETHEUS}}}": constant(0),
            f"prometheus_notifications_alertmanagers_discovered{{{PROMETHEUS}}}": constant(1)}),
    ],
    "AlertmanagerNotificationsFailing": [
        Case("mail fails", {f'alertmanager_notifications_failed_total{{{ALERTMANAGER}, integration="email"}}':
                            growing(1),
                            f'alertmanager_notifications_failed_total{{{ALERTMANAGER}, integration="webhook"}}':
                            constant(0)},
             [labels(ALERTMANAGER, integration="email")]),
        Case("old failures only", {
            f'alertmanager_notifications_failed_total{{{ALERTMANAGER}, integration="email"}}': constant(7)}),
    ],
    "PrometheusRuleEvaluationFailures": [
        Case("a group fails", {f'prometheus_rule_evaluation_failures_total{{{PROMETHEUS}, rule_group="r;slo"}}':
                               growing(1)},
             [labels(PROMETHEUS, rule_group="r;slo")]),
        Case("no failure", {f'prometheus_rule_evaluation_failures_total{{{PROMETHEUS}, rule_group="r;slo"}}':
                            constant(0)}),
    ],
    "PrometheusConfigReloadFailed": [
        Case("last reload failed", {f"prometheus_config_last_reload_successful{{{PROMETHEUS}}}": constant(0)},
             [labels(PROMETHEUS)]),
        Case("last reload fine", {f"prometheus_config_last_reload_successful{{{PROMETHEUS}}}": constant(1)}),
    ],
    "AlertmanagerConfigReloadFailed": [
        Case("last reload failed", {f"alertmanager_config_last_reload_successful{{{ALERTMANAGER}}}": constant(0)},
             [labels(ALERTMANAGER)]),
        Case("last reload fine", {f"alertmanager_config_last_reload_successful{{{ALERTMANAGER}}}": constant(1)}),
    ],
    "PrometheusStorageAlmostFull": [
        Case("the root filesystem 90% full", filesystem("/", "ext4", 0.10), [disk("/", "ext4")]),
        Case("only /home nearly full", {**filesystem("/", "ext4", 0.5), **filesystem("/home", "ext4", 0.02)}),
    ],
}


def rules(path: Path = RULES) -> dict[str, dict[str, Any]]:
    """Alert name -> its rule, from a rules file."""
    return {rule["alert"]: rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]}


def unit_test(rules_file: Path, alert: str, case: Case, static: dict[str, str]) -> dict[str, Any]:
    """promtool's unit test: the case's series, and the alerts `alert` must raise at the case's time."""
    return {
        "rule_files": [str(rules_file)],
        "evaluation_interval": case.interval,
        "tests": [{
            "name": f"{alert}: {case.name}",
            "interval": case.interval,
            "input_series": [{"series": series, "values": values} for series, values in case.series.items()],
            "alert_rule_test": [{"eval_time": case.at, "alertname": alert,
                                 "exp_alerts": [{"exp_labels": {**static, **own}} for own in case.fires]}],
        }],
    }


def without_annotations(rules_file: Path, directory: Path) -> Path:
    """A copy of the rules without annotations: these cases are about expressions and labels (promtool
    compares annotations too; `promtool check rules` parses their templates)."""
    document = yaml.safe_load(rules_file.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    copy = directory / "rules-under-test.yml"
    copy.write_text(yaml.safe_dump(document))
    return copy


def promtool(directory: Path, rules_file: Path, alert: str, case: Case) -> subprocess.CompletedProcess[str]:
    """Run `promtool test rules` on the case; the expected labels include the rule's static ones."""
    test = directory / "test.yaml"
    static = rules(rules_file)[alert]["labels"]
    test.write_text(yaml.safe_dump(unit_test(without_annotations(rules_file, directory), alert, case, static)))
    return subprocess.run([PROMTOOL, "test", "rules", str(test)], capture_output=True, text=True, timeout=120)


CASES.update({
    "SiteSilent": [
        # Samples until 7.5 min, then nothing: silent for 2.5 min at EVAL_AT.
        Case("a known site stopped sending", {**up(NODE), f"up{{{SITE_NODE}}}": f"1x30 _x{STEPS - 30}",
                                               f"up{{{SITE_AGENT}}}": f"1x30 _x{STEPS - 30}"}, [{"site": "lisbon"}]),
        Case("one of its jobs still sends", {**up(NODE, SITE_AGENT), f"up{{{SITE_NODE}}}": f"1x30 _x{STEPS - 30}"}),
        Case("silent for under the minute and its `for`", {**up(NODE), f"up{{{SITE_NODE}}}": f"1x37 _x{STEPS - 37}"}),
        Case("sending", up(NODE, SITE_NODE, SITE_AGENT)),
        Case("only the centre (no site ever seen)", up(NODE)),
    ],
    "SiteRemoteWriteFailing": [
        Case("samples rejected", {f"prometheus_remote_storage_samples_failed_total{{{SITE_AGENT}, {WRITE_QUEUE}}}":
                                  growing(30)}, [labels(f"{SITE_AGENT}, {WRITE_QUEUE}")]),
        Case("none rejected since long ago", {
            f"prometheus_remote_storage_samples_failed_total{{{SITE_AGENT}, {WRITE_QUEUE}}}": constant(12)}),
    ],
    "SiteRemoteWriteBehind": [
        Case("five minutes behind", {
            f"prometheus_remote_storage_highest_timestamp_in_seconds{{{SITE_AGENT}}}": "1000+15x80",
            f"prometheus_remote_storage_queue_highest_sent_timestamp_seconds{{{SITE_AGENT}, {WRITE_QUEUE}}}":
                "700+15x80"},
             [{"site": "lisbon", "instance": "127.0.0.1:9099", "url": "https://centre:9443/api/v1/write"}]),
        Case("a batch behind", {
            f"prometheus_remote_storage_highest_timestamp_in_seconds{{{SITE_AGENT}}}": "1000+15x80",
            f"prometheus_remote_storage_queue_highest_sent_timestamp_seconds{{{SITE_AGENT}, {WRITE_QUEUE}}}":
                "995+15x80"}),
    ],
})

# BackupTooOld works in days: samples every 5 minutes, promtool's clock starting at 0 (Unix time 0).
BACKUP_STEP = "5m"
BACKUP_SAMPLES = 12 * 60  # 60 hours of 5-minute samples
LAST_SUCCESS = 'promethoide_backup_last_success_timestamp_seconds{job="promethoide_backup"}'
BACKUP_RESULT = 'promethoide_backup_success{job="promethoide_backup"}'
BACKUP_FIRES = [{"job": "promethoide_backup"}]


def tsdb_since(start_s: int) -> dict[str, str]:
    """Prometheus's own oldest stored sample, at `start_s` (negative: before the test's clock starts)."""
    return {f"prometheus_tsdb_lowest_timestamp_seconds{{{PROMETHEUS}}}": f"{start_s}x{BACKUP_SAMPLES}"}


def backups_at(*hours: float, until_h: float | None = None) -> str:
    """The last-success series as the Pushgateway serves it: from each backup's hour on, that backup's
    Unix time; nothing before the first, nor from `until_h` (the Pushgateway restarted, empty) until the
    next backup pushes again."""
    values = []
    for step in range(BACKUP_SAMPLES):
        hour = step / 12
        done = [h for h in hours if h <= hour]
        emptied = until_h is not None and done and max(done) < until_h <= hour
        values.append("_" if not done or emptied else str(int(max(done) * 3600)))
    return " ".join(values)


def backup_case(name: str, at: str, series: dict[str, str], fires: bool) -> Case:
    return Case(name, series, BACKUP_FIRES if fires else [], at=at, interval=BACKUP_STEP)


FRESH_STACK = tsdb_since(0)            # Prometheus and everything else started at 0, no backup since
OLD_STACK = tsdb_since(-10 * 86400)    # monitored for ten days before the clock starts
CASES["BackupTooOld"] = [
    # A new stack: nobody could have scheduled a backup yet; after a day (and `for`) without one, it pages.
    backup_case("fresh stack, no backup, 23 h in", "23h", FRESH_STACK, False),
    backup_case("fresh stack, no backup, a day in but not yet 15 minutes over", "24h10m", FRESH_STACK, False),
    backup_case("fresh stack, still no backup a day and 30 minutes in", "24h30m", FRESH_STACK, True),
    backup_case("fresh stack, its first backup at 20 h, 30 h in", "30h", {**FRESH_STACK, LAST_SUCCESS: backups_at(20)},
                False),
    # One backup, then none: quiet while it is under a day old, firing once it is over a day and `for`.
    backup_case("one backup at 0, 23 h later", "23h", {**OLD_STACK, LAST_SUCCESS: backups_at(0)}, False),
    backup_case("one backup at 0, a day and 30 minutes later", "24h30m", {**OLD_STACK, LAST_SUCCESS: backups_at(0)},
                True),
    backup_case("daily backups, two days on", "48h30m", {**OLD_STACK, LAST_SUCCESS: backups_at(0, 24, 48)}, False),
    # The last run failed (success 0 pushed; the last success's time stays): it is the age that counts.
    backup_case("the last run failed, the last good one 30 h old", "30h", {
        **OLD_STACK, LAST_SUCCESS: backups_at(0), BACKUP_RESULT: f"1x{12 * 24} 0x{12 * 36}"}, True),
    backup_case("the last run failed, the last good one 2 h old", "26h", {
        **OLD_STACK, LAST_SUCCESS: backups_at(24), BACKUP_RESULT: f"1x{12 * 25} 0x{12 * 35}"}, False),
    # The Pushgateway restarts (its series vanish until the next backup): that alone pages nobody...
    backup_case("Pushgateway restarted 2 h after a backup, 20 h later", "22h",
                {**OLD_STACK, LAST_SUCCESS: backups_at(0, until_h=2)}, False),
    backup_case("Pushgateway restarted, the next night's backup pushed", "40h",
                {**OLD_STACK, LAST_SUCCESS: backups_at(0, 24, until_h=2)}, False),
    # ...nor hides a backup that is now too old: the last value seen within the day still counts.
    backup_case("Pushgateway restarted 2 h after a backup, no backup since, 24 h 30 m later", "24h30m",
                {**OLD_STACK, LAST_SUCCESS: backups_at(0, until_h=2)}, True),
    backup_case("Pushgateway restarted, no backup for 40 h", "40h",
                {**OLD_STACK, LAST_SUCCESS: backups_at(0, until_h=2)}, True),
]

CASE_PARAMS = [(alert, case) for alert, cases in CASES.items() for case in cases]


@pytest.mark.parametrize(("alert", "case"), CASE_PARAMS, ids=[f"{alert}: {case.name}" for alert, case in CASE_PARAMS])
def test_rule_on_synthetic_series(tmp_path: Path, alert: str, case: Case) -> None:
    result = promtool(tmp_path, RULES, alert, case)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_breaking_and_healthy_cases() -> None:
    assert set(CASES) == set(rules()), "a rule without cases, or cases for a rule that is gone"
    for alert, cases in CASES.items():
        assert any(case.fires for case in cases), alert
        assert alert == "Watchdog" or any(not case.fires for case in cases), alert


def _with_expr(tmp_path: Path, alert: str, expr: str) -> Path:
    """A copy of the rules with one expression replaced."""
    document = yaml.safe_load(RULES.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == alert:
                rule["expr"] = expr
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_harness_notices_a_rule_that_never_fires(tmp_path: Path) -> None:
    rules_file = _with_expr(tmp_path, "ApiDown", "vector(1) > 2")
    assert promtool(tmp_path, rules_file, "ApiDown", CASES["ApiDown"][0]).returncode != 0


def test_the_harness_notices_a_rule_that_always_fires(tmp_path: Path) -> None:
    rules_file = _with_expr(tmp_path, "HostMemoryLow", "vector(1)")
    assert promtool(tmp_path, rules_file, "HostMemoryLow", CASES["HostMemoryLow"][1]).returncode != 0


# The rule as first drafted (backup/ALERT.md before it joined alerts.yaml): `absent_over_time` alone paged a
# fresh stack 15 minutes after it started, and a Pushgateway restart hid a backup gone stale for ten more hours.
FIRST_DRAFT_OF_BACKUP_TOO_OLD = (
    f"time() - {LAST_SUCCESS} > 86400 or absent_over_time({LAST_SUCCESS}[1d])")


@pytest.mark.parametrize("name", ["fresh stack, no backup, 23 h in",
                                  "Pushgateway restarted 2 h after a backup, no backup since, 24 h 30 m later"])
def test_the_backup_cases_catch_the_first_draft_s_faults(tmp_path: Path, name: str) -> None:
    rules_file = _with_expr(tmp_path, "BackupTooOld", FIRST_DRAFT_OF_BACKUP_TOO_OLD)
    (case,) = [case for case in CASES["BackupTooOld"] if case.name == name]
    assert promtool(tmp_path, rules_file, "BackupTooOld", case).returncode != 0
