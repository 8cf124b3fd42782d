"""Alerts still reach Alertmanager, and so the mail, when its UI asks for basic auth (beyond loopback).

Real programs end to end: Debian's Alertmanager (0.25) through alertmanager/entrypoint.sh with the
web.yml that alertmanager/ui-auth.sh writes, the twin's SMTP sink, and Debian's Prometheus (2.42)
through prometheus/entrypoint.sh, which renders the product's prometheus.yml with .env's
MONITORING_UI_USERNAME and writes MONITORING_UI_PASSWORD to the password file the configuration names.
The copy of prometheus.yml differs from the product's only in the Alertmanager's address, short
intervals, one rule that always fires and no other job than Alertmanager's: its `alerting` block and
that job (whose /metrics is behind the same auth) are the product's, as they are.
With the wrong password the same alert is refused (401), counted as a failed notification, and mails
nothing: so the mail that arrives with the right one came through the credentials.
"""

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from drills.mailpit import Inbox
from tests.alertmanager.test_ui_auth import PASSWORD, USER, install
from tests.support.compose import ROOT, services
from tests.support.mail import running_sink
from tests.support.processes import free_port, stop_group, wait_until
from tests.support.prometheus import answers_ready

def rule(name: str) -> dict[str, object]:
    """A rule file with one alert that always fires."""
    return {"groups": [{"name": "test", "rules": [{
        "alert": name, "expr": "vector(1)",
        "labels": {"severity": "warning", "team": "operations", "service": "prometheus"},
        "annotations": {"title": f"{name} title", "summary": "always firing", "description": "test"}}]}]}


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """The twin's SMTP sink on free ports: (SMTP port, API URL)."""
    with running_sink(tmp_path_factory.mktemp("sink")) as running:
        yield running


@pytest.fixture(scope="module")
def alertmanager(sink: tuple[int, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Alertmanager behind basic auth (USER, PASSWORD), as ./run.sh leaves it beyond loopback."""
    tmp = tmp_path_factory.mktemp("alertmanager")
    shutil.copytree(ROOT / "alertmanager", tmp / "alertmanager", ignore=shutil.ignore_patterns("web.yml"))
    installed = install(tmp, USER, PASSWORD)
    assert installed.returncode == 0, installed.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        ["/bin/sh", str(tmp / "alertmanager" / "entrypoint.sh"), f"--config.file={tmp}/out/alertmanager.yml",
         f"--storage.path={tmp}/data", "--cluster.listen-address=", f"--web.listen-address=127.0.0.1:{port}"],
        env={"PATH": "/usr/bin:/bin", "ALERTMANAGER_BIN": "/usr/bin/prometheus-alertmanager",
             "SMTP_SMARTHOST": f"127.0.0.1:{sink[0]}", "ALERT_GROUP_WAIT": "1s", "ALERT_GROUP_INTERVAL": "2s"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def ready() -> bool:
        assert process.poll() is None, (tmp / "alertmanager.log").read_text()
        return answers_ready(url, auth=(USER, PASSWORD), timeout=2)
    try:
        wait_until(ready, timeout=60, what="Alertmanager ready")
        assert httpx.get(f"{url}/api/v2/alerts", timeout=5).status_code == 401  # the lock is on
        yield url
    finally:
        stop_group(process)
        log.close()


def start_prometheus(tmp: Path, alertmanager: str, password: str, alert: str) -> tuple[subprocess.Popen[bytes], str]:
    """Prometheus through prometheus/entrypoint.sh on a copy of prometheus/ (see the module's docstring),
    with compose's flags and .env's MONITORING_UI_* as compose passes them; (process, URL)."""
    copy = tmp / "prometheus"
    copy.mkdir()
    shutil.copy2(ROOT / "prometheus" / "entrypoint.sh", copy / "entrypoint.sh")
    (copy / "rules").mkdir()
    (copy / "rules" / "test.yml").write_text(yaml.safe_dump(rule(alert)))
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    assert config["alerting"]["alertmanagers"][0]["basic_auth"]["username"] == "${MONITORING_UI_USERNAME}"
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [alertmanager.removeprefix("http://")]}]
    config["global"]["evaluation_interval"] = "1s"
    config["global"]["scrape_interval"] = "1s"
    config["global"]["scrape_timeout"] = "1s"
    # Of the jobs, Alertmanager's own, as is but for its address: its /metrics is behind the same auth.
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "alertmanager")
    job["static_configs"] = [{"targets": [alertmanager.removeprefix("http://")]}]
    config["scrape_configs"] = [job]
    (copy / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    # Compose's flags, its container paths mapped here (the mounted folder, the data volume).
    paths = {"/etc/prometheus/": f"{copy}/", "/prometheus": str(tmp / "data")}
    flags = []
    for flag in services()["prometheus"]["command"]:
        name, _, value = flag.partition("=")
        if "retention" in name:
            continue  # ${PROMETHEUS_RETENTION...}: compose's interpolation, not the script's business
        for container, native in paths.items():
            if value.startswith(container):
                value = native + value[len(container):]
                break
        flags.append(f"{name}={value}" if value else name)
    assert {"--config.file", "--storage.tsdb.path"} <= {flag.partition("=")[0] for flag in flags}
    env = {"PATH": "/usr/bin:/bin", "PROMETHEUS_BIN": "/usr/bin/prometheus",
           "MONITORING_UI_USERNAME": USER, "MONITORING_UI_PASSWORD": password}
    assert set(env) - {"PATH"} <= set(services()["prometheus"]["environment"])
    log = (tmp / "prometheus.log").open("wb")
    # A resend delay of 1 s, not the default minute: Debian's Prometheus (2.42) sent its first
    # notification only after that minute (seen), which the test has no need to wait.
    process = subprocess.Popen(["/bin/sh", str(copy / "entrypoint.sh"), *flags, f"--web.listen-address=127.0.0.1:{port}",
                                "--rules.alert.resend-delay=1s"],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return process, f"http://127.0.0.1:{port}"


def alertmanager_up(prometheus: str) -> list[str]:
    """The values of up{job="alertmanager"} (empty before the first scrape)."""
    result = httpx.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="alertmanager"}'}, timeout=5).json()
    return [sample["value"][1] for sample in result["data"]["result"]]


def notifications(prometheus: str) -> dict[str, float]:
    """Prometheus's own counts of alerts sent and of failed sends to Alertmanager."""
    text = httpx.get(f"{prometheus}/metrics", timeout=5).text
    counts = {"sent": 0.0, "errors": 0.0}
    for line in text.splitlines():
        for key, name in (("sent", "prometheus_notifications_sent_total"), ("errors", "prometheus_notifications_errors_total")):
            if line.startswith(name + "{") or line.startswith(name + " "):
                counts[key] += float(line.rsplit(" ", 1)[1])
    return counts


@pytest.mark.parametrize("right", [True, False], ids=["right-password", "wrong-password"])
def test_an_alert_reaches_alertmanager_behind_basic_auth_and_is_mailed_and_it_is_scraped(
    alertmanager: str, sink: tuple[int, str], tmp_path: Path, right: bool
) -> None:
    alert = "AuthCheckRight" if right else "AuthCheckWrong"
    inbox = Inbox(sink[1])
    process, prometheus = start_prometheus(tmp_path, alertmanager, PASSWORD if right else PASSWORD + "x", alert)
    try:
        def tried() -> bool:
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                counts = notifications(prometheus)
            except httpx.HTTPError:
                return False
            return counts["sent"] > 0 and (counts["errors"] > 0 or right)
        wait_until(tried, timeout=120, what="Prometheus sending the alert to Alertmanager")
        rendered = tmp_path / "data" / "config"
        assert oct((rendered / "monitoring_ui_password").stat().st_mode & 0o777) == "0o600"
        assert f"username: {USER}" in (rendered / "prometheus.yml").read_text()
        assert "password_file: monitoring_ui_password" in (rendered / "prometheus.yml").read_text()
        active = [a["labels"]["alertname"]
                  for a in httpx.get(f"{alertmanager}/api/v2/alerts", auth=(USER, PASSWORD), timeout=5).json()]
        wait_until(lambda: alertmanager_up(prometheus) != [], timeout=60, what="Alertmanager scraped")
        assert alertmanager_up(prometheus) == (["1"] if right else ["0"])
        if right:
            assert notifications(prometheus)["errors"] == 0
            assert alert in active
            mail = inbox.wait_for(lambda m: f"{alert} title" in m.subject, timeout=120)
            assert "FIRING" in mail.subject.upper()
        else:
            assert alert not in active
            assert not [m for m in inbox.messages() if f"{alert} title" in m.subject]
    finally:
        stop_group(process)
