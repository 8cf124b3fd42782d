"""`./run.sh drill` with the stand-in docker (tests/support/docker_standin.py), a real Alertmanager
(Debian's, through alertmanager/entrypoint.sh) and the real SMTP sink serving mailpit's API.

The stand-in docker only records what it is asked, so the test plays the part of Prometheus: when the
drill stops Apache, the test sends Alertmanager the alert Prometheus would; the real Alertmanager
routes it and mails it, and the drill's verdict follows from what really arrived. With nobody playing
Prometheus, the drill must fail and say which expectation failed; interrupted, it must repair."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from drills.mailpit import Inbox
from tests.alertmanager.test_ui_auth import install
from tests.support.compose import ROOT
from tests.support.mail import running_sink
from tests.support.processes import free_port, stop_group, wait_until
from tests.support.prometheus import answers_ready

ENTRYPOINT = ROOT / "alertmanager" / "entrypoint.sh"
BINARY = "/usr/bin/prometheus-alertmanager"
SERVICES = ["postgres", "api", "apache", "alertmanager", "mailpit"]
HEALTHY = "\n".join(json.dumps({"Service": s, "State": "running", "Health": "healthy" if s != "mailpit" else ""})
                    for s in SERVICES)
UI_USER, UI_PASSWORD = "watcher", "a monitoring password: with spaces"
APACHE_DOWN = {"alertname": "ApacheDown", "service": "apache", "severity": "critical", "team": "operations"}


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """The twin's SMTP sink on free ports: (SMTP port, API URL)."""
    with running_sink(tmp_path_factory.mktemp("sink")) as running:
        yield running


def start_alertmanager(sink: tuple[int, str], tmp: Path, locked: bool) -> Iterator[str]:
    """A real Alertmanager started through entrypoint.sh, mailing the sink, groups sent after a second;
    `locked`: behind basic auth (UI_USER, UI_PASSWORD) as ./run.sh leaves it beyond loopback."""
    entrypoint = ENTRYPOINT
    if locked:
        shutil.copytree(ROOT / "alertmanager", tmp / "alertmanager", ignore=shutil.ignore_patterns("web.yml"))
        installed = install(tmp, UI_USER, UI_PASSWORD)
        assert installed.returncode == 0, installed.stderr
        entrypoint = tmp / "alertmanager" / "entrypoint.sh"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        ["/bin/dash", str(entrypoint), f"--config.file={tmp}/config/alertmanager.yml", f"--storage.path={tmp}/data",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", f"--web.external-url={url}"],
        env={**os.environ, "ALERTMANAGER_BIN": BINARY, "SMTP_SMARTHOST": f"127.0.0.1:{sink[0]}",
             "ALERT_GROUP_WAIT": "1s", "ALERT_GROUP_INTERVAL": "2s"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def ready() -> bool:
        assert process.poll() is None, (tmp / "alertmanager.log").read_text()
        return answers_ready(url, auth=(UI_USER, UI_PASSWORD), timeout=2)
    try:
        wait_until(ready, timeout=60, what="Alertmanager ready")
        assert (httpx.get(f"{url}/api/v2/alerts", timeout=5).status_code == 401) == locked
        yield url
    finally:
        stop_group(process)
        log.close()


@pytest.fixture(scope="module")
def alertmanager(sink: tuple[int, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from start_alertmanager(sink, tmp_path_factory.mktemp("alertmanager"), locked=False)


@pytest.fixture(scope="module")
def locked_alertmanager(sink: tuple[int, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from start_alertmanager(sink, tmp_path_factory.mktemp("locked-alertmanager"), locked=True)


class Project:
    """A copy of run.sh, .example.env, .env and drills/ with the stand-in docker on PATH."""

    def __init__(self, dir: Path, alertmanager: str, mailpit: str) -> None:
        self.dir, self.alertmanager, self.mailpit = dir, alertmanager, mailpit
        for name in ("run.sh", ".example.env"):
            shutil.copy2(ROOT / name, dir / name)
        shutil.copytree(ROOT / "drills", dir / "drills", ignore=shutil.ignore_patterns("__pycache__"))
        (dir / ".env").write_text("BIND_ADDRESS=127.0.0.1\nAPACHE_PORT=9\n")
        (dir / "bin").mkdir()
        docker = dir / "bin" / "docker"
        docker.write_text(f"#!{sys.executable}\n" + (ROOT / "tests" / "support" / "docker_standin.py").read_text())
        docker.chmod(0o755)
        self.env = {"PATH": f"{dir / 'bin'}:/usr/bin:/bin", "HOME": str(dir), "DOCKER_CALLS": str(dir / "calls"),
                    "STANDIN_SERVICES": ",".join(SERVICES), "STANDIN_PS": HEALTHY}

    def catalogue(self, *scenarios: dict[str, Any]) -> Path:
        path = self.dir / "drills" / "test-catalogue.json"
        path.write_text(json.dumps({"scenarios": list(scenarios), "not_drilled": [], "elsewhere": []}))
        return path

    def argv(self, *args: str) -> list[str]:
        return ["bash", str(self.dir / "run.sh"), "drill", *args, "--alertmanager", self.alertmanager,
                "--mailpit", self.mailpit]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, env={**self.env, **env}, timeout=300)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)

    def calls(self) -> list[str]:
        path = self.dir / "calls"
        return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def project(tmp_path: Path, alertmanager: str, sink: tuple[int, str]) -> Project:
    Inbox(sink[1]).delete_all()
    return Project(tmp_path, alertmanager, sink[1])


def apache_stopped(fire_within_s: float, **extra: Any) -> dict[str, Any]:
    return {"name": "apache-stopped", "proves": "test", "fault": {"action": "stop", "service": "apache"},
            "disturbs": ["apache"], "fire": [{"alert": "ApacheDown", "within_s": fire_within_s}], "silent": ["ApiDown"],
            "mail": [{"alert": "ApacheDown", "team": "operations", "subject": "Apache down"}],
            "resolve_within_s": 30, **extra}


def post_alert(alertmanager: str, labels: dict[str, str], resolved: bool = False) -> None:
    """What Prometheus sends Alertmanager (API v2) for a firing alert, or for its resolution."""
    now = datetime.now(timezone.utc)
    alert = {"labels": labels, "annotations": {"title": "Apache down", "summary": "Apache is down"},
             "startsAt": (now - timedelta(minutes=1)).isoformat(),
             "endsAt": (now if resolved else now + timedelta(minutes=5)).isoformat()}
    httpx.post(f"{alertmanager}/api/v2/alerts", json=[alert], auth=(UI_USER, UI_PASSWORD), timeout=10).raise_for_status()


def wait_for_call(project: Project, call: str, process: subprocess.Popen[str] | None = None) -> None:
    def made() -> bool:
        assert process is None or process.poll() is None, process.communicate() if process else ""
        return call in project.calls()
    wait_until(made, timeout=60, what=f"docker {call}")


def test_list_names_every_drill_and_what_it_proves(project: Project) -> None:
    result = project.run("--list")
    assert result.returncode == 0, result.stderr
    catalogue = json.loads((ROOT / "drills" / "catalogue.json").read_text())
    for scenario in catalogue["scenarios"]:
        assert f"{scenario['name']:22} {scenario['proves']}" in result.stdout


@pytest.mark.parametrize(("ps", "named"), [
    ([{"Service": s, "State": "running", "Health": "healthy"} for s in SERVICES if s != "api"], "api (no container"),
    ([{"Service": s, "State": "running", "Health": "unhealthy" if s == "api" else "healthy"} for s in SERVICES],
     "api (running, unhealthy)"),
    ([{"Service": s, "State": "paused" if s == "postgres" else "running", "Health": ""} for s in SERVICES],
     "postgres (paused)"),
])
def test_an_unhealthy_stack_is_refused_before_anything_is_touched(project: Project, ps: list[dict[str, str]],
                                                                     named: str) -> None:
    result = project.run("all", STANDIN_PS="\n".join(json.dumps(p) for p in ps))
    assert result.returncode == 2
    assert "the stack is not healthy, so no drill was run" in result.stderr
    assert named in result.stderr
    assert not [c for c in project.calls() if c.split()[1:2] in (["stop"], ["kill"], ["pause"], ["exec"], ["up"])]


def test_an_unknown_drill_is_refused(project: Project) -> None:
    result = project.run("nonsense")
    assert result.returncode == 2
    assert "no such drill: nonsense" in result.stderr


@pytest.mark.parametrize("locked", [False, True], ids=["loopback", "beyond-loopback"])
def test_a_drill_whose_alerts_arrive_passes_and_reports_its_times(project: Project, locked: bool,
                                                                   request: pytest.FixtureRequest) -> None:
    """Beyond loopback Alertmanager asks for basic auth: run.sh hands the drills .env's
    MONITORING_UI_USERNAME/PASSWORD (by environment), and the drill passes just the same."""
    alertmanager = request.getfixturevalue("locked_alertmanager" if locked else "alertmanager")
    project.alertmanager = alertmanager
    if locked:
        with (project.dir / ".env").open("a") as env:
            env.write(f"MONITORING_UI_USERNAME={UI_USER}\nMONITORING_UI_PASSWORD={UI_PASSWORD}\n")
    catalogue = project.catalogue(apache_stopped(fire_within_s=60))
    process = project.start("--catalogue", str(catalogue))
    try:
        wait_for_call(project, "compose stop apache", process)
        post_alert(alertmanager, APACHE_DOWN)  # Prometheus's part: the rule fired
        wait_for_call(project, "compose start apache", process)
        post_alert(alertmanager, APACHE_DOWN, resolved=True)
        out, err = process.communicate(timeout=200)
    finally:
        process.kill()
    assert process.returncode == 0, out + err
    (row,) = [line for line in out.splitlines() if line.startswith("apache-stopped ")]
    fired, mailed, resolved, verdict = [cell for cell in row.split("  ") if cell.strip()][1:]
    assert verdict.strip() == "PASS"
    assert all(cell.strip().endswith(" s") for cell in (fired, mailed, resolved)), row
    assert project.calls().index("compose stop apache") < project.calls().index("compose start apache")


def test_an_expectation_not_met_fails_the_drill_naming_it_and_still_repairs(project: Project) -> None:
    catalogue = project.catalogue(apache_stopped(fire_within_s=4))
    result = project.run("--catalogue", str(catalogue))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "apache-stopped: ApacheDown did not fire within 4 s" in result.stdout
    assert "no Apache down mail to operations" in result.stdout
    assert [line for line in result.stdout.splitlines() if line.startswith("apache-stopped ")][0].endswith("FAIL")
    calls = project.calls()
    assert calls.index("compose stop apache") < calls.index("compose start apache")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_drill_repairs_what_it_broke(project: Project, sig: signal.Signals) -> None:
    frozen = {**apache_stopped(fire_within_s=600), "name": "api-frozen", "fault": {"action": "pause", "service": "api"}}
    process = project.start("--catalogue", str(project.catalogue(frozen)))
    try:
        wait_for_call(project, "compose pause api", process)
        time.sleep(1)  # mid-drill: waiting for the alert
        process.send_signal(sig)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, out + err
    assert "repairing every fault injected" in err
    calls = project.calls()
    assert calls.index("compose pause api") < calls.index("compose unpause api")
    assert "INTERRUPTED" in out
