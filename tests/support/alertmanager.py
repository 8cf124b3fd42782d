"""Asking a live Alertmanager (API v2, https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml),
as tests and drills do: which alerts it holds, which are inhibited or silenced."""

import time
from collections.abc import Callable
from typing import Any

import httpx

Alert = dict[str, Any]


class AlertmanagerClient:
    """GET /api/v2/alerts, read.

    Usage: `am = AlertmanagerClient("http://alertmanager:9093")`; `am.alerts()` → every alert it holds,
    each {labels, annotations, startsAt, endsAt, status: {state: active|suppressed|unprocessed,
    inhibitedBy: [fingerprint...], silencedBy: [id...]}, fingerprint, receivers}; `am.wait_until(cond, 60)`.
    """

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def alerts(self) -> list[Alert]:
        """Every alert Alertmanager holds: active, inhibited and silenced alike."""
        response = httpx.get(self.url + "/api/v2/alerts", timeout=10)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def named(self, alertname: str) -> list[Alert]:
        """The alerts of one alertname."""
        return [alert for alert in self.alerts() if alert["labels"].get("alertname") == alertname]

    def wait_until(self, condition: Callable[[list[Alert]], bool], timeout: float, what: str) -> list[Alert]:
        """Poll the alerts until `condition` holds; fail naming `what` and the alerts last seen."""
        deadline = time.monotonic() + timeout
        while True:
            alerts = self.alerts()
            if condition(alerts):
                return alerts
            if time.monotonic() > deadline:
                summary = sorted((a["labels"].get("alertname", ""), a["status"]["state"]) for a in alerts)
                raise AssertionError(f"{what}: not within {timeout} s; Alertmanager holds {summary}")
            time.sleep(1)


def inhibited(alert: Alert) -> bool:
    """Whether an inhibition rule mutes the alert."""
    return bool(alert["status"].get("inhibitedBy"))
