"""Asking a live Prometheus, and waiting for it to see something."""

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tests.support.processes import free_port, stop_group, wait_until

if TYPE_CHECKING:
    from tests.twin.stack import Twin

PROMETHEUS = "/usr/bin/prometheus"  # Debian's


def answers_ready(url: str, auth: tuple[str, str] | None = None, timeout: float = 1) -> bool:
    """Prometheus (or Alertmanager) answers /-/ready (with basic `auth` when its web.yml asks for it)."""
    try:
        return httpx.get(url + "/-/ready", auth=auth, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_prometheus(directory: Path, config: str) -> Iterator[str]:
    """Debian's Prometheus on a free loopback port, with `config` (prometheus.yml's text; relative rule
    files are read from `directory`) and its data and log in `directory`: yields its URL; stopped on exit."""
    (directory / "prometheus.yml").write_text(config)
    port = free_port()
    log = (directory / "log").open("wb")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={directory / 'prometheus.yml'}", f"--storage.tsdb.path={directory / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is None and answers_ready(url), 120, f"Prometheus on {url}")
        yield url
    finally:
        stop_group(process)
        log.close()


class PrometheusClient:
    """Instant queries against a Prometheus HTTP API.

    Usage: `prom = PrometheusClient("http://prometheus:9090")`; `prom.values('up{job="api"}')` →
    {instance: value}; `prom.wait_until('up{job="api"} == 0', lambda v: len(v) == 2, 45)`;
    `prom.alerts()` → {alertname: state} of every pending or firing alert. `auth` (user, password):
    the basic auth Prometheus asks for beyond loopback (web.yml); `PrometheusClient.of(twin)` takes the
    twin's.
    """

    def __init__(self, url: str, auth: tuple[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.auth = auth

    @classmethod
    def of(cls, twin: "Twin") -> "PrometheusClient":
        """The twin's Prometheus, with the credentials it asks for (none on loopback)."""
        return cls(twin.url("prometheus"), auth=twin.ui_auth)

    def query(self, expr: str) -> list[dict]:  # type: ignore[type-arg]
        """The result vector of an instant query; fails on a query error."""
        response = httpx.post(self.url + "/api/v1/query", data={"query": expr}, auth=self.auth, timeout=10)
        body = response.json()
        assert body["status"] == "success", f"{expr}: {body.get('error')}"
        return body["data"]["result"]  # type: ignore[no-any-return]

    def values(self, expr: str, label: str = "instance") -> dict[str, float]:
        """Each series' value, keyed by one of its labels."""
        return {sample["metric"].get(label, ""): float(sample["value"][1]) for sample in self.query(expr)}

    def wait_until(
        self, expr: str, condition: Callable[[dict[str, float]], bool], timeout: float, label: str = "instance"
    ) -> dict[str, float]:
        """Poll a query until its values satisfy `condition`; fail with the last values seen."""
        deadline = time.monotonic() + timeout
        while True:
            values = self.values(expr, label)
            if condition(values):
                return values
            if time.monotonic() > deadline:
                raise AssertionError(f"after {timeout} s, {expr} = {values}")
            time.sleep(1)

    def alert_list(self) -> list[dict]:  # type: ignore[type-arg]
        """GET /api/v1/alerts: every active alert, {labels, annotations, state: pending|firing, activeAt, value}."""
        response = httpx.get(self.url + "/api/v1/alerts", auth=self.auth, timeout=10)
        body = response.json()
        assert body["status"] == "success", body.get("error")
        return body["data"]["alerts"]  # type: ignore[no-any-return]

    def rule_groups(self) -> list[dict]:  # type: ignore[type-arg]
        """GET /api/v1/rules: every rule group, {name, file, interval (s), lastEvaluation, rules: [{health...}]}."""
        response = httpx.get(self.url + "/api/v1/rules", auth=self.auth, timeout=10)
        body = response.json()
        assert body["status"] == "success", body.get("error")
        return body["data"]["groups"]  # type: ignore[no-any-return]

    def alerts(self) -> dict[str, str]:
        """alertname -> "firing" if any of its alerts fires, else "pending"."""
        states: dict[str, str] = {}
        for alert in self.alert_list():
            name = alert["labels"]["alertname"]
            states[name] = "firing" if "firing" in (alert["state"], states.get(name)) else alert["state"]
        return states
