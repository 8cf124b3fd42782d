"""Alerting end to end on the twin: Prometheus evaluates the project's rules, Debian's Alertmanager
(0.25) routes them with the project's rendered config, the SMTP sink keeps every mail.

A healthy stack fires nothing but the Watchdog (and GrafanaDown: the twin has no Grafana, see
tests/twin/stack.py), and the Watchdog reaches the heartbeat webhook. What faults must cause (the API
killed: operations mailed once with its runbook and panel links, the dependents inhibited, the
resolution mailed; a stopped Alertmanager seen by Prometheus, its silences kept; and every other
drill) is proved by the drills of drills/catalogue.json, on twins of their own (tests/drills).

Every wait is on a condition with a generous deadline derived from the rules' `for` and the
notification settings (scrapes every 15 s, rules evaluated every 30 s, group_wait 30 s): never a sleep.
"""

import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.alertmanager import AlertmanagerClient
from tests.support.mail import Inbox
from tests.support.prometheus import PrometheusClient
from tests.support.webhook import WebhookRecorder
from tests.twin.stack import Twin

ROOT = Path(__file__).resolve().parents[2]
# Alerts of a healthy twin, and why each is there.
HEALTHY_TWIN = {
    "Watchdog": "always fires: the heartbeat",
    "GrafanaDown": "the twin has no Grafana (not packaged); its scrape target answers nothing",
}
# Pipeline latency on a busy machine: evaluation (30 s) + sending + group_wait (30 s) + margin.
PIPELINE_S = 150


def alert_spec(name: str) -> dict[str, Any]:
    """An alert as prometheus/alerts.yaml declares it."""
    spec = yaml.safe_load((ROOT / "prometheus" / "alerts.yaml").read_text())
    return next(alert for group in spec["groups"] for alert in group["alerts"] if alert["alert"] == name)


def for_s(name: str) -> float:
    """The alert's `for`, in seconds."""
    value = str(alert_spec(name)["for"])
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", value))


def settle_on_healthy(prometheus: PrometheusClient, timeout: float) -> dict[str, str]:
    """Wait until Prometheus's pending and firing alerts are only the healthy twin's (start-up leaves some)."""
    deadline = time.monotonic() + timeout
    while True:
        alerts = prometheus.alerts()
        if set(alerts) <= set(HEALTHY_TWIN) and alerts.get("Watchdog") == "firing":
            return alerts
        if time.monotonic() > deadline:
            raise AssertionError(f"the twin never settled on {sorted(HEALTHY_TWIN)}; alerts: {alerts}")
        time.sleep(2)


@pytest.mark.timeout(600)  # its deadlines follow the rules' `for`, longer than the suite's 300 s default
def test_a_healthy_stack_fires_nothing_but_the_watchdog(
    twin: Twin, prometheus: PrometheusClient, alertmanager: AlertmanagerClient, inbox: Inbox
) -> None:
    alerts = settle_on_healthy(prometheus, timeout=for_s("SmokeTestStale") + PIPELINE_S)
    # GrafanaDown, at least pending, proves the absence of a service is seen (here, truthfully).
    assert alerts.get("GrafanaDown") in ("pending", "firing"), alerts
    held = alertmanager.wait_until(
        lambda found: any(a["labels"]["alertname"] == "Watchdog" for a in found), PIPELINE_S, "the Watchdog")
    assert {alert["labels"]["alertname"] for alert in held} <= set(HEALTHY_TWIN)
    for mail in inbox.messages():
        assert alert_spec("GrafanaDown")["title"] in mail.subject, mail.subject


def test_the_watchdog_reaches_the_heartbeat_webhook(twin: Twin, heartbeat: WebhookRecorder,
                                                    alertmanager: AlertmanagerClient) -> None:
    deadline = time.monotonic() + PIPELINE_S
    while not heartbeat.payloads() and time.monotonic() < deadline:
        time.sleep(1)
    payloads = heartbeat.payloads()
    assert payloads, f"no heartbeat within {PIPELINE_S} s"
    # Alertmanager's webhook payload (version 4): only the Watchdog goes there, firing.
    for payload in payloads:
        assert payload["status"] == "firing"
        assert {alert["labels"]["alertname"] for alert in payload["alerts"]} == {"Watchdog"}
