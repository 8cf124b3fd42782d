"""alertmanager/: entrypoint.sh renders a configuration amtool accepts, under busybox (the image's shell
and tools) and dash alike; hostile values survive, bad ones stop the start with a clear message and
touch nothing; every alert of prometheus/rules routes to its team; the mails render as the issue says.

amtool and the Alertmanager binary are Debian's 0.25 (package prometheus-alertmanager); the image runs
0.34, whose config the file keeps to (upstream tag v0.34.0, config/config.go: same keys).
"""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
import yaml

from tests.support.compose import ROOT

ENTRYPOINT = ROOT / "alertmanager" / "entrypoint.sh"
AMTOOL = "/usr/bin/amtool"
RULE_FILES = sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
GRAFANA = "https://grafana.example.com/monitoring"
EXTERNAL = "https://alertmanager.example.com"


@pytest.fixture(scope="session")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of busybox applets (sh, sed, grep, tr...): the prom/alertmanager image's userland."""
    binary = shutil.which("busybox")
    assert binary, "busybox is missing (Debian package busybox): the entrypoint must be tested with it"
    directory = tmp_path_factory.mktemp("busybox")
    subprocess.run([binary, "--install", "-s", str(directory)], check=True)
    return directory


@pytest.fixture(params=["busybox", "dash"])
def shell(request: pytest.FixtureRequest, busybox: Path) -> tuple[str, str]:
    """(shell, PATH): busybox's sh with only its applets, or Debian's dash with the usual tools."""
    if request.param == "busybox":
        return str(busybox / "sh"), str(busybox)
    return "/bin/dash", "/usr/bin:/bin"


def render(out: Path, shell: tuple[str, str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run entrypoint.sh with `env` and ALERTMANAGER_BIN=true: it renders into `out`, then runs true."""
    sh, path = shell
    return subprocess.run(
        [sh, str(ENTRYPOINT), f"--config.file={out / 'alertmanager.yml'}", "--storage.path=/nowhere"],
        env={"PATH": path, "ALERTMANAGER_BIN": "true", **env}, capture_output=True, text=True, timeout=60)


def check_config(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, "check-config", str(config)], capture_output=True, text=True, timeout=60)


def rendered(out: Path) -> dict[str, Any]:
    return yaml.safe_load((out / "alertmanager.yml").read_text())  # type: ignore[no-any-return]


def receiver(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in config["receivers"] if r["name"] == name)


# ---------------------------------------------------------------------------------------------
# Rendering


def test_defaults_render_a_valid_config(tmp_path: Path, shell: tuple[str, str]) -> None:
    result = render(tmp_path, shell)
    assert result.returncode == 0, result.stderr
    checked = check_config(tmp_path / "alertmanager.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = rendered(tmp_path)
    assert config["global"]["smtp_smarthost"] == "mailpit:1025"
    assert config["global"]["smtp_require_tls"] is False
    assert config["global"]["smtp_auth_username"] == ""
    assert "webhook_configs" not in receiver(config, "heartbeat"), "no heartbeat URL: the Watchdog is dropped"
    assert receiver(config, "operations")["email_configs"][0]["to"] == "operations@promethoide.local"
    assert config["route"]["group_wait"] == "30s" and config["route"]["repeat_interval"] == "4h"
    assert "http://localhost:3000{{ end }}" in (tmp_path / "templates" / "email.tmpl").read_text()
    settings = [line for line in (tmp_path / "alertmanager.yml").read_text().splitlines() if not line.startswith("#")]
    assert not [line for line in settings if "${" in line], "a placeholder left"


def test_the_password_is_only_in_its_own_private_file(tmp_path: Path, shell: tuple[str, str]) -> None:
    assert render(tmp_path, shell, SMTP_AUTH_USERNAME="me", SMTP_AUTH_PASSWORD="s3cret!").returncode == 0
    password_file = Path(rendered(tmp_path)["global"]["smtp_auth_password_file"])
    assert password_file.read_bytes() == b"s3cret!"
    assert "s3cret" not in (tmp_path / "alertmanager.yml").read_text()
    for private in (password_file, tmp_path / "alertmanager.yml"):
        assert private.stat().st_mode & 0o077 == 0, f"{private} readable by others"


HOSTILE = {
    "SMTP_AUTH_PASSWORD": "p/a&s|s'w\"o\\rd ${HOME} $(id) `id` \\1 &amp;",
    "SMTP_AUTH_USERNAME": "o'brien&co|\\x \"quoted\" $HOME",
    "SMTP_FROM": "O'Brien & Sons | Alerts <alerts@example.com>",
    "SMTP_SMARTHOST": "smtp.example.com:587",
    "SMTP_REQUIRE_TLS": "true",
    "ALERT_EMAIL_OPERATIONS": "ops@example.com;o'neil@example.com",
    "ALERT_EMAIL_DEVELOPERS": "dev+alerts@example.com, lead@example.com",
    "WATCHDOG_WEBHOOK_URL": "https://hc.example.com/ping/abc?x=1&y='q'|z\\w",
    "GRAFANA_EXTERNAL_URL": "https://grafana.example.com/monitoring/",
    "ALERT_GROUP_WAIT": "5s", "ALERT_GROUP_INTERVAL": "15s", "ALERT_REPEAT_INTERVAL": "1h",
}


def test_hostile_values_survive(tmp_path: Path, shell: tuple[str, str]) -> None:
    result = render(tmp_path, shell, **HOSTILE)
    assert result.returncode == 0, result.stderr
    checked = check_config(tmp_path / "alertmanager.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = rendered(tmp_path)
    smtp = config["global"]
    assert Path(smtp["smtp_auth_password_file"]).read_text() == HOSTILE["SMTP_AUTH_PASSWORD"]
    assert smtp["smtp_auth_username"] == HOSTILE["SMTP_AUTH_USERNAME"]
    assert smtp["smtp_from"] == HOSTILE["SMTP_FROM"]
    assert smtp["smtp_smarthost"] == "smtp.example.com:587" and smtp["smtp_require_tls"] is True
    # Grafana's ";" separator becomes Alertmanager's ",".
    assert receiver(config, "operations")["email_configs"][0]["to"] == "ops@example.com,o'neil@example.com"
    assert receiver(config, "developers")["email_configs"][0]["to"] == HOSTILE["ALERT_EMAIL_DEVELOPERS"]
    assert receiver(config, "heartbeat")["webhook_configs"][0]["url"] == HOSTILE["WATCHDOG_WEBHOOK_URL"]
    assert (config["route"]["group_wait"], config["route"]["group_interval"]) == ("5s", "15s")
    # The trailing slash is dropped: links are <url>/d/...
    assert "https://grafana.example.com/monitoring{{ end }}" in (tmp_path / "templates" / "email.tmpl").read_text()


BAD = {
    "SMTP_SMARTHOST": "mailpit",                     # no port
    "SMTP_REQUIRE_TLS": "yes",
    "SMTP_FROM": "alerts",
    "ALERT_EMAIL_OPERATIONS": "operations",          # not an address (empty means the default)
    "ALERT_GROUP_WAIT": "soon",
    "ALERT_REPEAT_INTERVAL": "4 h",
    "GRAFANA_EXTERNAL_URL": 'http://x/"}}{{ template "x" }}',
    "WATCHDOG_WEBHOOK_URL": "ftp://example.com/",
    "ALERT_EMAIL_DEVELOPERS": "dev@example.com\nBcc: everyone@example.com",
    "SMTP_AUTH_USERNAME": "${ALERT_EMAIL_DEVELOPERS}",
}


@pytest.mark.parametrize(("name", "value"), BAD.items(), ids=list(BAD))
def test_a_bad_value_stops_the_start_and_touches_nothing(tmp_path: Path, shell: tuple[str, str], name: str,
                                                         value: str) -> None:
    previous = "# the configuration of the last good start\n"
    (tmp_path / "alertmanager.yml").write_text(previous)
    result = render(tmp_path, shell, **{name: value})
    assert result.returncode == 2
    assert name in result.stderr, result.stderr
    assert (tmp_path / "alertmanager.yml").read_text() == previous


def test_without_config_file_argument_nothing_runs(tmp_path: Path, shell: tuple[str, str]) -> None:
    sh, path = shell
    result = subprocess.run([sh, str(ENTRYPOINT), "--storage.path=/x"], env={"PATH": path, "ALERTMANAGER_BIN": "true"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--config.file" in result.stderr


def test_the_binary_gets_every_argument(tmp_path: Path) -> None:
    args = tmp_path / "args"
    fake = tmp_path / "alertmanager"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {args}\n')
    fake.chmod(0o755)
    out = tmp_path / "out"
    result = subprocess.run(["/bin/dash", str(ENTRYPOINT), f"--config.file={out}/alertmanager.yml",
                             "--cluster.listen-address=", "--web.external-url=http://x:9093"],
                            env={"PATH": "/usr/bin:/bin", "ALERTMANAGER_BIN": str(fake)}, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert args.read_text().splitlines() == [f"--config.file={out}/alertmanager.yml", "--cluster.listen-address=",
                                             "--web.external-url=http://x:9093"]


# ---------------------------------------------------------------------------------------------
# Routing


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The configuration rendered with the defaults, plus a heartbeat URL."""
    out = tmp_path_factory.mktemp("alertmanager")
    result = render(out, ("/bin/dash", "/usr/bin:/bin"), WATCHDOG_WEBHOOK_URL="https://hc.example.com/ping/x",
                    GRAFANA_EXTERNAL_URL=GRAFANA)
    assert result.returncode == 0, result.stderr
    return out / "alertmanager.yml"


def alert_rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule]


def routes_test(config: Path, labels: dict[str, str]) -> list[str]:
    """The receivers `amtool config routes test` picks for an alert with `labels`."""
    result = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={config}",
                             *(f"{k}={v}" for k, v in labels.items())], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split()


ROUTED = [{"alertname": r["alert"], **r["labels"]} for r in alert_rules()]


@pytest.mark.parametrize("labels", ROUTED, ids=lambda labels: f"{labels['alertname']}-{labels['severity']}")
def test_every_alert_reaches_its_team(config: Path, labels: dict[str, str]) -> None:
    assert routes_test(config, labels) == [labels["team"]]


def test_every_team_and_severity_is_routed(config: Path) -> None:
    seen = {(labels["team"], labels["severity"]) for labels in ROUTED}
    assert {"operations", "developers", "heartbeat"} == {team for team, _ in seen}
    for team in ("operations", "developers"):
        for severity in ("critical", "warning", "info"):
            assert routes_test(config, {"alertname": "Any", "team": team, "severity": severity}) == [team]


def test_an_alert_without_a_known_team_still_reaches_operations(config: Path) -> None:
    assert routes_test(config, {"alertname": "Something", "severity": "critical"}) == ["operations"]
    assert routes_test(config, {"alertname": "Something", "team": "marketing"}) == ["operations"]


def test_the_routing_check_can_fail(config: Path) -> None:
    result = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={config}",
                             "--verify.receivers=developers", "team=operations"], capture_output=True, text=True)
    assert result.returncode != 0


# ---------------------------------------------------------------------------------------------
# Mails


def data(rule: dict[str, Any], status: str, count: int = 2) -> dict[str, Any]:
    """Alertmanager's template data for `count` alerts of one rule (as Prometheus would send them)."""
    labels = {"alertname": rule["alert"], **rule["labels"]}
    alerts = [{
        "status": status, "labels": {**labels, "instance": f"replica-{n}"}, "annotations": rule["annotations"],
        "startsAt": "2026-11-29T07:00:00Z",
        "endsAt": "2026-11-29T07:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph", "fingerprint": str(n),
    } for n in range(count)]
    return {"receiver": rule["labels"]["team"], "status": status, "alerts": alerts,
            "groupLabels": {"alertname": rule["alert"], "service": labels.get("service", "")},
            "commonLabels": labels, "commonAnnotations": rule["annotations"], "externalURL": EXTERNAL}


def template(config: Path, tmp_path: Path, name: str, payload: dict[str, Any]) -> str:
    """`amtool template render` of one of our templates, with the rendered templates/ next to `config`."""
    (tmp_path / "data.json").write_text(json.dumps(payload))
    result = subprocess.run([AMTOOL, "template", "render", f"--template.glob={config.parent}/templates/*.tmpl",
                             f"--template.text={{{{ template \"{name}\" . }}}}",
                             f"--template.data={tmp_path / 'data.json'}"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


MAILED = [r for r in alert_rules() if r["labels"]["team"] != "heartbeat"]


@pytest.mark.parametrize("rule", MAILED, ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_the_firing_mail(config: Path, tmp_path: Path, rule: dict[str, Any]) -> None:
    payload = data(rule, "firing")
    subject = template(config, tmp_path, "promethoide.subject", payload)
    assert subject == f"[FIRING:2] {rule['annotations']['title']} ({rule['labels']['severity']}) - Promethoide"
    body = template(config, tmp_path, "promethoide.text", payload)
    notes = rule["annotations"]
    for expected in (notes["summary"], notes["description"], "Since:     2026-11-29 07:00:00 UTC",
                     f"alertname={rule['alert']}", "instance=replica-1",
                     f"Dashboard: {GRAFANA}{notes['dashboard_url']}", f"Runbook:   {GRAFANA}{notes['runbook_url']}",
                     f"prometheus/runbooks/{rule['alert']}.md", f"Silence:   {EXTERNAL}/#/silences/new?filter=%7B"):
        assert expected in body, f"{expected!r} not in\n{body}"
    assert body.count("[FIRING]") == 2


def test_the_resolved_mail(config: Path, tmp_path: Path) -> None:
    rule = next(r for r in MAILED if r["alert"] == "ApiDown")
    payload = data(rule, "resolved", count=1)
    assert template(config, tmp_path, "promethoide.subject", payload) == "[RESOLVED] API down (critical) - Promethoide"
    body = template(config, tmp_path, "promethoide.text", payload)
    assert "Resolved:  2026-11-29 07:30:00 UTC" in body and "Silence:" not in body


def test_the_silence_link_prefills_every_label(config: Path, tmp_path: Path) -> None:
    rule = next(r for r in MAILED if r["alert"] == "ApiDown")
    body = template(config, tmp_path, "promethoide.text", data(rule, "firing", count=1))
    link = re.search(r"filter=(\S+)", body)
    assert link
    assert unquote_plus(link.group(1)) == ('{alertname="ApiDown",instance="replica-0",service="api",'
                                           'severity="critical",team="operations"}')
