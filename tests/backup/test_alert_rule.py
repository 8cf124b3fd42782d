"""The backup's metrics as backup/backup.sh pushes them are what the rest reads: the BackupTooOld rule
(prometheus/rules/alerts.yml), the PostgreSQL dashboard's Backups row and backup/ALERT.md's table.

The rule's behaviour over days (fresh stack, failed runs, Pushgateway restarts) is promtool's, in
tests/prometheus/test_rules_alerts.py; a real push reaching Pushgateway is tests/backup/test_backup.py.
"""

import re
from pathlib import Path

import yaml

from tests.grafana.queries import all_panels, dashboards

ROOT = Path(__file__).resolve().parents[2]
BACKUP_SH = (ROOT / "backup" / "backup.sh").read_text()
JOB = re.search(r"^PUSH_JOB=(\S+)$", BACKUP_SH, re.M).group(1)  # type: ignore[union-attr]
PUSHED = set(re.findall(r"# TYPE (promethoide_backup_\w+) gauge$", BACKUP_SH, re.M))
METRIC = re.compile(r"\b(promethoide_backup_\w+)\{([^}]*)\}")


def backup_too_old() -> dict:  # type: ignore[type-arg]
    rules = yaml.safe_load((ROOT / "prometheus" / "rules" / "alerts.yml").read_text())
    (rule,) = [r for group in rules["groups"] for r in group["rules"] if r.get("alert") == "BackupTooOld"]
    return rule


def test_backup_sh_pushes_what_this_test_expects() -> None:
    # Guard: the tests below compare with PUSHED, which must not be empty by a broken pattern.
    assert JOB == "promethoide_backup"
    assert {"promethoide_backup_success", "promethoide_backup_last_success_timestamp_seconds"} <= PUSHED


def test_the_rule_reads_the_pushed_last_success_of_the_pushed_job() -> None:
    found = METRIC.findall(backup_too_old()["expr"])
    assert found, "BackupTooOld no longer reads a backup metric"
    for metric, selector in found:
        assert metric == "promethoide_backup_last_success_timestamp_seconds" and metric in PUSHED
        assert selector == f'job="{JOB}"'


def test_the_backup_panels_read_only_what_is_pushed() -> None:
    postgres = dashboards()["promethoide-postgres"]
    read = {m for p in all_panels(postgres) for t in p.get("targets", []) for m, _ in METRIC.findall(t.get("expr", ""))}
    # Every metric a run pushes is on the dashboard except the run's own time (the age tile shows the success's).
    assert read == PUSHED - {"promethoide_backup_last_run_timestamp_seconds"}
    for p in all_panels(postgres):
        for target in p.get("targets", []):
            for _, selector in METRIC.findall(target.get("expr", "")):
                assert selector == f'job="{JOB}"', p["title"]


def test_alert_md_lists_exactly_the_pushed_metrics() -> None:
    table = re.findall(r"^\| `(promethoide_backup_\w+)` \|", (ROOT / "backup" / "ALERT.md").read_text(), re.M)
    assert sorted(table) == sorted(PUSHED)
