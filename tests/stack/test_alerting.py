"""Alerting end to end on the twin: Prometheus evaluates the project's rules, Debian's Alertmanager
(0.25) routes them with the project's rendered config, the SMTP sink keeps every mail.

A healthy stack fires nothing but the Watchdog (and GrafanaDown: the twin has no Grafana, see
tests/twin/stack.py); the Watchdog reaches the heartbeat webhook; killing the API mails the operations
team once, with the right subject, runbook and panel links, keeps the API's dependent alerts
inhibited, and mails the resolution once the API is back; a stopped Alertmanager is seen by
Prometheus, and its silences survive the restart.

Every wait is on a condition with a generous deadline derived from the rules' `for` and the
notification settings (scrapes every 15 s, rules evaluated every 30 s, group_wait 30 s): never a sleep.
"""

import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml

from tests.grafana.queries import all_panels
from tests.support.alertmanager import AlertmanagerClient, inhibited
from tests.support.mail import Inbox, Mail
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


def mails_about(inbox: Inbox, title: str, status: str) -> list[Mail]:
    """Mails whose subject names the alert's title and the status (FIRING or RESOLVED)."""
    return [mail for mail in inbox.messages() if title in mail.subject and status in mail.subject.upper()]


def addresses(setting: str) -> set[str]:
    """A recipients setting (`,` or `;` separated) as a set of lowercase addresses."""
    return {part.strip().lower() for part in re.split(r"[,;]", setting) if part.strip()}


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


def linked_panel(url: str) -> tuple[str, str]:
    """The dashboard file name and panel title a Grafana link `.../d/<uid>?viewPanel=<id>` opens."""
    link = urlsplit(url)
    uid = link.path.split("/d/", 1)[1].split("/")[0]
    panel_id = int(parse_qs(link.query)["viewPanel"][0])
    (path,) = [path for path in (ROOT / "grafana" / "dashboards").glob("*.json")
               if json.loads(path.read_text())["uid"] == uid]
    titles = {panel.get("id"): panel.get("title") for panel in all_panels(json.loads(path.read_text()))}
    return path.stem, str(titles.get(panel_id))


def check_links(mail: Mail, alertname: str, annotations: dict[str, str], grafana_url: str) -> None:
    """The mail links the alert's runbook and its panel under Grafana's external URL, and they open the
    runbook of that alert and the panel prometheus/alerts.yaml names."""
    for name in ("runbook_url", "dashboard_url"):
        assert annotations[name].startswith("/"), annotations
        assert grafana_url.rstrip("/") + annotations[name] in mail.links, (name, annotations[name], mail.links)
    assert linked_panel(annotations["runbook_url"]) == ("runbooks", alertname)
    assert linked_panel(annotations["dashboard_url"]) == tuple(alert_spec(alertname)["panel"])


@pytest.mark.disruptive
@pytest.mark.timeout(900)
def test_killing_the_api_mails_operations_once_inhibits_its_dependents_then_mails_the_resolution(
    twin: Twin, prometheus: PrometheusClient, alertmanager: AlertmanagerClient, inbox: Inbox
) -> None:
    title = alert_spec("ApiDown")["title"]
    dependents = {"ApiReplicaDown"}  # fires while ApiDown does, per replica: what inhibition must mute
    assert not mails_about(inbox, title, "FIRING"), "the API was already reported down"
    twin.stop("api", kill=True)
    try:
        firing = inbox.wait_for(lambda mail: title in mail.subject and "FIRING" in mail.subject.upper(),
                                for_s("ApiDown") + PIPELINE_S)
        assert addresses(twin.env["ALERT_EMAIL_OPERATIONS"]) == set(firing.recipients)
        assert firing.sender == twin.env["SMTP_FROM"].lower()
        (alert,) = [a for a in prometheus.alert_list() if a["labels"]["alertname"] == "ApiDown"]
        check_links(firing, "ApiDown", alert["annotations"], twin.env["GRAFANA_EXTERNAL_URL"])
        # The dependents fire in Prometheus, reach Alertmanager, and stay muted there.
        held = alertmanager.wait_until(
            lambda found: {a["labels"]["alertname"] for a in found} >= dependents,
            max(for_s(name) for name in dependents) + PIPELINE_S, "the API's dependent alerts")
        for held_alert in held:
            if held_alert["labels"].get("service") == "api" and held_alert["labels"]["alertname"] != "ApiDown":
                assert inhibited(held_alert), held_alert["labels"]
        assert not any(alert_spec(name)["title"] in mail.subject for mail in inbox.messages() for name in dependents)
    finally:
        twin.start_service("api")
    inbox.wait_for(lambda mail: title in mail.subject and "RESOLVED" in mail.subject.upper(), PIPELINE_S)
    assert len(mails_about(inbox, title, "FIRING")) == 1, [mail.subject for mail in inbox.messages()]


def silence(alertmanager: AlertmanagerClient, alertname: str) -> str:
    """Silence an alertname for an hour through API v2; the silence's id."""
    now = datetime.now(timezone.utc)
    body = {"matchers": [{"name": "alertname", "value": alertname, "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "tests/stack/test_alerting.py", "comment": "survives a restart?"}
    response = httpx.post(alertmanager.url + "/api/v2/silences", json=body, timeout=10)
    response.raise_for_status()
    return str(response.json()["silenceID"])


@pytest.mark.disruptive
@pytest.mark.timeout(600)
def test_a_stopped_alertmanager_is_seen_by_prometheus_and_keeps_its_silences(
    twin: Twin, prometheus: PrometheusClient, alertmanager: AlertmanagerClient, scrape_interval_s: float
) -> None:
    silence_id = silence(alertmanager, "NothingRealJustATest")
    twin.stop("alertmanager")
    try:
        prometheus.wait_until('ALERTS{alertname="AlertmanagerDown", alertstate="firing"}', lambda v: bool(v),
                              for_s("AlertmanagerDown") + PIPELINE_S)
    finally:
        twin.start_service("alertmanager")
    response = httpx.get(f"{alertmanager.url}/api/v2/silence/{silence_id}", timeout=10)
    assert response.status_code == 200 and response.json()["status"]["state"] == "active"
    prometheus.wait_until('ALERTS{alertname="AlertmanagerDown"}', lambda v: not v, 2 * scrape_interval_s + PIPELINE_S)
