"""Prometheus's own basic auth beyond loopback: prometheus/entrypoint.sh gives Prometheus the web.yml that
alertmanager/ui-auth.sh writes (`promtool check web-config` passes it: tests/alertmanager/test_ui_auth.py).

Real programs: Debian's Prometheus (2.42) through prometheus/entrypoint.sh, on a copy of prometheus/ whose
prometheus.yml keeps only the product's `prometheus` job (its basic_auth as it is, its target this
Prometheus), with compose's flags and environment. Beyond loopback an anonymous query is refused (401)
and the same query with the credentials answered; the self-scrape sends them (up is 1); the compose
healthcheck counts the 401 as alive, under busybox's wget (the image's) and GNU's (the twin's). On
loopback (no web.yml) nothing changes: anyone who reaches the port is answered.
"""

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.alertmanager.test_ui_auth import PASSWORD, USER, install
from tests.support.compose import ROOT, services
from tests.support.processes import free_port, stop_group, wait_until
from tests.support.prometheus import answers_ready


def prometheus_copy(tmp: Path, port: int, beyond_loopback: bool) -> Path:
    """prometheus/ as ./run.sh leaves it: entrypoint.sh, prometheus.yml with the self-scrape job only,
    and web.yml from ui_auth_install beyond loopback."""
    if beyond_loopback:
        installed = install(tmp, USER, PASSWORD)
        assert installed.returncode == 0, installed.stderr
    copy = tmp / "prometheus"
    copy.mkdir(exist_ok=True)
    shutil.copy2(ROOT / "prometheus" / "entrypoint.sh", copy / "entrypoint.sh")
    (copy / "rules").mkdir()
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "prometheus")
    assert job["basic_auth"] == {"username": "${MONITORING_UI_USERNAME}", "password_file": "monitoring_ui_password"}
    job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
    config["scrape_configs"] = [job]
    config["global"]["scrape_interval"] = config["global"]["scrape_timeout"] = "1s"
    config.pop("alerting")
    (copy / "prometheus.yml").write_text(yaml.safe_dump(config))
    return copy


def compose_flags(copy: Path, data: Path) -> list[str]:
    """Compose's command, its container paths mapped to the copy and the data directory."""
    flags = []
    for flag in services()["prometheus"]["command"]:
        if "retention" in flag:
            continue  # ${PROMETHEUS_RETENTION...}: compose's interpolation
        flags.append(flag.replace("/etc/prometheus/", f"{copy}/").replace("=/prometheus", f"={data}"))
    return flags


@pytest.fixture(params=[True, False], ids=["beyond-loopback", "loopback"])
def prometheus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, bool]]:
    """(URL, beyond loopback) of Debian's Prometheus started as compose starts it."""
    beyond = bool(request.param)
    port = free_port()
    copy = prometheus_copy(tmp_path, port, beyond)
    env = {"PATH": "/usr/bin:/bin", "PROMETHEUS_BIN": "/usr/bin/prometheus",
           "MONITORING_UI_USERNAME": USER, "MONITORING_UI_PASSWORD": PASSWORD}
    assert set(env) - {"PATH"} <= set(services()["prometheus"]["environment"])
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(["/bin/sh", str(copy / "entrypoint.sh"), *compose_flags(copy, tmp_path / "data"),
                                    f"--web.listen-address=127.0.0.1:{port}"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def listening() -> bool:
        assert process.poll() is None, log_path.read_text()
        return answers_ready(url, auth=(USER, PASSWORD), timeout=2)
    try:
        wait_until(listening, timeout=60, what="Prometheus ready")
        yield url, beyond
    finally:
        stop_group(process)


def query(url: str, auth: tuple[str, str] | None) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/query", data={"query": 'up{job="prometheus"}'}, auth=auth, timeout=5)


def test_beyond_loopback_an_anonymous_query_is_refused_and_one_with_the_credentials_answered(
        prometheus: tuple[str, bool]) -> None:
    url, beyond = prometheus
    assert query(url, None).status_code == (401 if beyond else 200)
    assert query(url, (USER, "wrong")).status_code == (401 if beyond else 200)
    assert httpx.get(f"{url}/-/healthy", timeout=5).status_code == (401 if beyond else 200)
    assert query(url, (USER, PASSWORD)).status_code == 200


def test_the_self_scrape_sends_the_credentials(prometheus: tuple[str, bool]) -> None:
    url, _ = prometheus

    def up() -> list[str]:
        result = query(url, (USER, PASSWORD)).json()["data"]["result"]
        return [sample["value"][1] for sample in result]
    wait_until(lambda: up() != [], timeout=60, what="the first self-scrape")
    assert up() == ["1"]


@pytest.mark.parametrize("wget", ["busybox", "gnu"])
def test_the_compose_healthcheck_counts_prometheus_alive(prometheus: tuple[str, bool], wget: str,
                                                         tmp_path: Path) -> None:
    url, _ = prometheus
    kind, command = services()["prometheus"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    applets = tmp_path / "applets"
    applets.mkdir()
    if wget == "busybox":
        busybox = shutil.which("busybox")
        assert busybox, "busybox is missing (Debian package busybox): the image's wget is busybox's"
        subprocess.run([busybox, "--install", "-s", str(applets)], check=True)
        path = str(applets)
    else:
        path = "/usr/bin:/bin"
    command = command.replace("$$", "$")  # compose's escape of a literal $
    alive = subprocess.run(["sh", "-c", command.replace("http://127.0.0.1:9090", url)], env={"PATH": path},
                           capture_output=True, timeout=30, check=False)
    assert alive.returncode == 0, alive.stdout + alive.stderr
    dead = subprocess.run(["sh", "-c", command.replace("127.0.0.1:9090", f"127.0.0.1:{free_port()}")],
                          env={"PATH": path}, capture_output=True, timeout=30, check=False)
    assert dead.returncode != 0


def test_a_web_config_flag_of_its_own_is_refused(tmp_path: Path) -> None:
    """web.yml beside the script is the one: a second source would leave which applies unclear."""
    copy = prometheus_copy(tmp_path, free_port(), beyond_loopback=True)
    result = subprocess.run(["/bin/sh", str(copy / "entrypoint.sh"), *compose_flags(copy, tmp_path / "data"),
                             f"--web.config.file={copy / 'web.yml'}"],
                            env={"PATH": "/usr/bin:/bin", "PROMETHEUS_BIN": "/bin/false", "MONITORING_UI_USERNAME": USER},
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "give no --web.config.file" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything is written
