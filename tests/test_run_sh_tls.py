"""./run.sh beyond loopback: HTTPS for the page and basic auth for the UIs, with the stand-in docker of
tests/test_run_sh.py (which runs this machine's htpasswd for `compose run ... htpasswd`) and the real openssl."""

import re
import subprocess
from pathlib import Path

import pytest

from tests.test_run_sh import calls, project, run  # noqa: F401  # project is a fixture


def set_env(project: Path, **settings: str) -> None:  # noqa: F811
    """Change settings of the .env run.sh created (as an operator edits it)."""
    text = (project / ".env").read_text()
    for name, value in settings.items():
        text, count = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.M)
        assert count == 1, name
    (project / ".env").write_text(text)


def first_run(project: Path) -> None:  # noqa: F811
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert not (project / "apache" / "tls" / "cert.pem").exists()  # loopback: plain HTTP


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def test_beyond_loopback_the_page_gets_a_self_signed_pair_and_the_uis_a_password(project: Path) -> None:  # noqa: F811
    first_run(project)
    set_env(project, BIND_ADDRESS="192.0.2.10")
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert "Created a self-signed TLS certificate" in result.stdout
    assert "https://192.0.2.10:8080" in result.stdout
    cert = project / "apache" / "tls" / "cert.pem"
    text = openssl("x509", "-in", str(cert), "-noout", "-text")
    assert "IP Address:192.0.2.10" in text and "DNS:localhost" in text
    assert (project / "apache" / "tls" / "key.pem").stat().st_mode & 0o777 == 0o600
    web = project / "alertmanager" / "web.yml"
    prometheus_web = project / "prometheus" / "web.yml"
    for path in (web, prometheus_web):
        check = subprocess.run(["promtool", "check", "web-config", str(path)], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
    assert "Prometheus, Alertmanager and Mailpit ask for user 'admin'" in result.stdout
    assert (project / "mailpit" / "ui-auth").read_text().startswith("admin:$2y$10$")
    password = re.search(r"^MONITORING_UI_PASSWORD=(.+)$", (project / ".env").read_text(), re.M)
    assert password and password.group(1) not in web.read_text()
    # The images are built before the hash is made with the apache image, and the stack starts after.
    order = [c.split()[1] for c in calls(project) if c.startswith("compose ") and c.split()[1] in {"build", "run", "up"}]
    assert order[-3:] == ["build", "run", "up"]

    # A second start keeps the same pair; back on loopback both are removed (the self-signed pair is kept).
    again = run(project)
    assert again.returncode == 0 and "Created" not in again.stdout
    assert cert.read_text() == (project / "apache" / "tls" / "self-signed" / "cert.pem").read_text()
    set_env(project, BIND_ADDRESS="127.0.0.1")
    back = run(project)
    assert back.returncode == 0, back.stderr
    assert "http://127.0.0.1:8080" in back.stdout
    assert not cert.exists() and not web.exists() and not (project / "mailpit" / "ui-auth").exists()
    assert not prometheus_web.exists()
    assert (project / "apache" / "tls" / "self-signed" / "cert.pem").exists()


def test_the_operators_certificate_is_served(project: Path, tmp_path: Path) -> None:  # noqa: F811
    first_run(project)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=desk.example",
            "-keyout", str(tmp_path / "desk.key"), "-out", str(tmp_path / "desk.crt"))
    set_env(project, BIND_ADDRESS="0.0.0.0", TLS_CERT_FILE=str(tmp_path / "desk.crt"), TLS_KEY_FILE=str(tmp_path / "desk.key"))
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert "self-signed" not in result.stdout
    assert (project / "apache" / "tls" / "cert.pem").read_bytes() == (tmp_path / "desk.crt").read_bytes()
    assert "https://localhost:8080" in result.stdout


@pytest.mark.parametrize(("cert", "key", "message"), [
    ("desk.crt", "other.key", "is not the private key"),
    ("desk.crt", "", "set both TLS_CERT_FILE and TLS_KEY_FILE"),
    ("missing.crt", "desk.key", "cannot read"),
])
def test_a_bad_pair_stops_before_anything_starts(project: Path, tmp_path: Path, cert: str, key: str,  # noqa: F811
                                                 message: str) -> None:
    first_run(project)
    for name in ("desk", "other"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                "-keyout", str(tmp_path / f"{name}.key"), "-out", str(tmp_path / f"{name}.crt"))
    started = len([c for c in calls(project) if c.startswith("compose up")])
    set_env(project, BIND_ADDRESS="0.0.0.0", TLS_CERT_FILE=str(tmp_path / cert) if cert else "",
            TLS_KEY_FILE=str(tmp_path / key) if key else "")
    result = run(project)
    assert result.returncode == 1
    assert message in result.stderr and "TLS_CERT_FILE" in result.stderr
    assert len([c for c in calls(project) if c.startswith("compose up")]) == started
    assert not (project / "apache" / "tls" / "cert.pem").exists()
