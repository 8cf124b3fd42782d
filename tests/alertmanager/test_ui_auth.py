"""alertmanager/ui-auth.sh (basic auth of the UIs beyond loopback) and its use by entrypoint.sh: the web
configuration `promtool check web-config` accepts (Alertmanager's and Prometheus's copy), the mailpit password file, refusals that write nothing,
and Debian's Alertmanager (0.25) run through entrypoint.sh with it: 401 without the password, 200 with it,
and the compose healthcheck, under busybox's wget (the image's), counting either as alive.

The hasher is Debian's htpasswd (apache2-utils), the same program run.sh runs from the apache image.
"""

import base64
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.compose import ROOT, services

UI_AUTH = ROOT / "alertmanager" / "ui-auth.sh"
HASHER = "htpasswd -niBC 10"
USER, PASSWORD = "admin", "s3cret with spaces & 'quotes'"


def install(workdir: Path, user: str, password: str, hasher: str = HASHER) -> subprocess.CompletedProcess[str]:
    """ui_auth_install in `workdir` (as run.sh runs it from the repository's root)."""
    script = f'. "{UI_AUTH}"; ui_auth_install "$1" "$2" {hasher} "$1"'
    return subprocess.run(["bash", "-c", script, "ui-auth", user, password], cwd=workdir, capture_output=True,
                          text=True, timeout=60, check=False)


def verifies(htpasswd_file: Path, password: str) -> bool:
    """Whether the password matches the file's hash (htpasswd -v, password on standard input)."""
    result = subprocess.run(["htpasswd", "-v", "-i", str(htpasswd_file), USER], input=password, capture_output=True,
                            text=True, timeout=30, check=False)
    return result.returncode == 0


def test_the_web_config_passes_promtool_and_both_files_hold_one_bcrypt_hash(tmp_path: Path) -> None:
    result = install(tmp_path, USER, PASSWORD)
    assert result.returncode == 0, result.stderr
    web = tmp_path / "alertmanager" / "web.yml"
    prometheus_web = tmp_path / "prometheus" / "web.yml"
    for path in (web, prometheus_web):
        check = subprocess.run(["promtool", "check", "web-config", str(path)], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
    assert prometheus_web.read_text() == web.read_text()  # one hash, one account for both
    users = yaml.safe_load(web.read_text())["basic_auth_users"]
    assert list(users) == [USER]
    assert users[USER].startswith("$2y$10$")
    name, _, hashed = (tmp_path / "mailpit" / "ui-auth").read_text().rstrip("\n").partition(":")
    assert name == USER and hashed == users[USER]
    assert verifies(tmp_path / "mailpit" / "ui-auth", PASSWORD)
    assert not verifies(tmp_path / "mailpit" / "ui-auth", "wrong")
    for path in (web, prometheus_web, tmp_path / "mailpit" / "ui-auth"):
        assert PASSWORD not in path.read_text()
        assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(("user", "password", "hasher", "message"), [
    ("", PASSWORD, HASHER, "MONITORING_UI_USERNAME"),
    ("ad min", PASSWORD, HASHER, "MONITORING_UI_USERNAME"),
    ("admin:x", PASSWORD, HASHER, "MONITORING_UI_USERNAME"),
    (USER, "", HASHER, "MONITORING_UI_PASSWORD"),
    (USER, PASSWORD, "false", "could not hash"),
    (USER, PASSWORD, "echo", "did not print"),  # prints the user name only
    (USER, PASSWORD, "htpasswd -nimC 10", "did not print"),  # MD5, not bcrypt
])
def test_bad_input_is_refused_and_writes_nothing(tmp_path: Path, user: str, password: str, hasher: str,
                                                 message: str) -> None:
    result = install(tmp_path, user, password, hasher)
    assert result.returncode != 0
    assert message in result.stderr
    assert list(tmp_path.rglob("*")) == [] or all(p.is_dir() for p in tmp_path.rglob("*"))


def test_remove_opens_the_uis_again(tmp_path: Path) -> None:
    assert install(tmp_path, USER, PASSWORD).returncode == 0
    subprocess.run(["bash", "-c", f'. "{UI_AUTH}"; ui_auth_remove'], cwd=tmp_path, check=True, timeout=30)
    assert not (tmp_path / "alertmanager" / "web.yml").exists()
    assert not (tmp_path / "prometheus" / "web.yml").exists()
    assert not (tmp_path / "mailpit" / "ui-auth").exists()


# ---------------------------------------------------------------------------------------------
# Alertmanager behind it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def status(url: str, credentials: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url)
    if credentials:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Debian's Alertmanager started by a copy of alertmanager/ with web.yml from ui_auth_install."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "alertmanager", copy / "alertmanager", ignore=shutil.ignore_patterns("web.yml"))
    assert install(copy, USER, PASSWORD).returncode == 0
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("w")
    process = subprocess.Popen(
        ["/bin/sh", str(copy / "alertmanager" / "entrypoint.sh"), f"--config.file={tmp_path / 'out' / 'alertmanager.yml'}",
         f"--storage.path={tmp_path / 'data'}", "--cluster.listen-address=", f"--web.listen-address=127.0.0.1:{port}"],
        env={"PATH": "/usr/bin:/bin", "ALERTMANAGER_BIN": "/usr/bin/prometheus-alertmanager"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status(f"{url}/-/healthy")
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
                assert time.monotonic() < deadline, "Alertmanager did not listen within 60 s"
                time.sleep(0.2)
        yield url, tmp_path
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_alertmanager_asks_for_the_password(alertmanager: tuple[str, Path]) -> None:
    url, _ = alertmanager
    assert status(f"{url}/-/healthy") == 401
    assert status(f"{url}/api/v2/status") == 401
    assert status(f"{url}/api/v2/status", (USER, "wrong")) == 401
    assert status(f"{url}/api/v2/status", (USER, PASSWORD)) == 200


def test_the_compose_healthcheck_counts_the_401_as_alive(alertmanager: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = alertmanager
    test = services()["alertmanager"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    busybox = shutil.which("busybox")
    assert busybox, "busybox is missing (Debian package busybox): the image's wget is busybox's"
    applets = tmp_path / "busybox"
    applets.mkdir()
    subprocess.run([busybox, "--install", "-s", str(applets)], check=True)
    command = test[1].replace("http://127.0.0.1:9093", url)
    alive = subprocess.run([str(applets / "sh"), "-c", command], env={"PATH": str(applets)}, capture_output=True,
                           timeout=30, check=False)
    assert alive.returncode == 0, alive.stderr
    # And a port where nothing answers is not alive.
    dead = subprocess.run([str(applets / "sh"), "-c", test[1].replace("127.0.0.1:9093", f"127.0.0.1:{free_port()}")],
                          env={"PATH": str(applets)}, capture_output=True, timeout=30, check=False)
    assert dead.returncode != 0
