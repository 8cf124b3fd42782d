"""An alert table in a document, held to the alert rules it restates.

Reusable for any rule source: build `Alert`s from Grafana's provisioned rules (`grafana_alerts`) or
from a Prometheus rule file (`prometheus_alerts`), then `alert_table_problems(table, alerts)` lists
every difference (an empty list when the table is right). The table needs the columns `alert`,
`threshold`, `for` and `emailed to` (cell `team (severity)`); other columns are free text.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.markdown import Table

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


@dataclass(frozen=True)
class Alert:
    """What an alert table restates of one rule."""

    title: str
    expr: str  # the rule's PromQL, where its thresholds are
    for_s: float
    team: str
    severity: str


def duration_s(text: str) -> float:
    """Seconds in a Prometheus duration ("1m30s"); 0 for an empty one."""
    if text in ("", "0"):
        return 0.0
    parts = _DURATION.findall(text)
    if "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(number) * _SECONDS[unit] for number, unit in parts)


def grafana_alerts(rules_file: Path) -> list[Alert]:
    """The rules of a Grafana alerting provisioning file (groups[].rules[]: title, for, labels, data)."""
    document = yaml.safe_load(rules_file.read_text())
    return [
        Alert(rule["title"], rule["data"][0]["model"]["expr"], duration_s(rule.get("for", "0s")),
              rule["labels"]["team"], rule["labels"]["severity"])
        for group in document["groups"] for rule in group["rules"]
    ]


def prometheus_alerts(rule_files: Iterable[Path]) -> list[Alert]:
    """The alerting rules of Prometheus rule files (groups[].rules[]: alert, expr, for, labels)."""
    found = []
    for path in rule_files:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    labels = rule.get("labels", {})
                    found.append(Alert(rule["alert"], rule["expr"], duration_s(rule.get("for", "0s")),
                                       labels.get("team", ""), labels.get("severity", "")))
    return found


def _numbers(text: str) -> set[float]:
    return {float(n) for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", text)}


def threshold_problems(title: str, cell: str, expr: str) -> list[str]:
    """Each number the threshold cell states (N% as N/100) must be a number of the rule's PromQL."""
    in_expr = _numbers(re.sub(r"\[[^\]]*\]|\{[^}]*\}", " ", expr))  # not range windows or label values
    problems = []
    for number, percent in re.findall(r"(?<![\w.])(\d+(?:\.\d+)?)(%?)(?![\w.])", cell):
        value = float(number) / 100 if percent else float(number)
        if value not in in_expr and float(number) not in in_expr:
            problems.append(f"{title}: the table's threshold {number}{percent} is not in the rule ({expr})")
    return problems


def alert_table_problems(table: Table, alerts: list[Alert]) -> list[str]:
    """Every way the table differs from the rules: missing or extra rows, `for`, team, severity, thresholds."""
    rows = {record["alert"]: record for record in table.records()}
    by_title = {alert.title: alert for alert in alerts}
    problems = [f"{title}: a rule the table does not list" for title in by_title.keys() - rows.keys()]
    problems += [f"{title}: listed, but no such rule" for title in rows.keys() - by_title.keys()]
    for title in sorted(rows.keys() & by_title.keys()):
        row, alert = rows[title], by_title[title]
        if duration_s(row["for"]) != alert.for_s:
            problems.append(f"{title}: the table says for {row['for']}, the rule {alert.for_s:g} s")
        emailed = f"{alert.team} ({alert.severity})"
        if row["emailed to"] != emailed:
            problems.append(f"{title}: the table says emailed to {row['emailed to']!r}, the rule {emailed!r}")
        problems += threshold_problems(title, row["threshold"], alert.expr)
    return problems
