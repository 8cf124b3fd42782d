"""run.sh, with a stand-in `docker` on PATH that records what it is asked (no engine here)."""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "$DOCKER_CALLS"
case "$*" in
    "compose version --short") echo "${FAKE_COMPOSE_VERSION:-2.40.3}" ;;
esac
exit 0
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of run.sh and .example.env, and a bin/ directory for the stand-in docker."""
    shutil.copy(ROOT / "run.sh", tmp_path / "run.sh")
    shutil.copy(ROOT / ".example.env", tmp_path / ".example.env")
    (tmp_path / "bin").mkdir()
    return tmp_path


def run(project: Path, *args: str, docker: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    if docker:
        fake = project / "bin" / "docker"
        fake.write_text(FAKE_DOCKER)
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    path = f"{project / 'bin'}:/usr/bin:/bin"
    environment = {"PATH": path, "DOCKER_CALLS": str(project / "calls"), "HOME": str(project), **env}
    return subprocess.run(["bash", str(project / "run.sh"), *args], capture_output=True, text=True, env=environment)


def calls(project: Path) -> list[str]:
    return (project / "calls").read_text().splitlines() if (project / "calls").exists() else []


def test_without_docker_it_says_how_to_get_it(project: Path) -> None:
    if shutil.which("docker", path="/usr/bin:/bin"):
        pytest.skip("a docker client is installed in /usr/bin")
    result = run(project, docker=False)
    assert result.returncode == 1
    assert "Docker is not installed" in result.stderr


def test_compose_v1_is_refused(project: Path) -> None:
    result = run(project, FAKE_COMPOSE_VERSION="1.29.2")
    assert result.returncode == 1
    assert "Docker Compose v2 or newer is needed, found 1.29.2" in result.stderr


def test_first_run_creates_env_with_random_secrets_then_starts_and_waits(project: Path) -> None:
    result = run(project)
    assert result.returncode == 0, result.stderr
    env = (project / ".env").read_text()
    assert not re.search(r"=change-me$", env, re.M)
    secrets = re.findall(r"^(?:POSTGRES_PASSWORD|API_DB_PASSWORD|EXPORTER_DB_PASSWORD|GF_SECURITY_ADMIN_PASSWORD|"
                         r"GF_SECURITY_SECRET_KEY)=([0-9a-f]+)$", env, re.M)
    assert len(secrets) == 5 and len(set(secrets)) == 5 and all(len(s) == 48 for s in secrets)
    assert stat.S_IMODE(os.stat(project / ".env").st_mode) == 0o600
    assert "compose build" in calls(project)
    assert any(call.startswith("compose up -d --wait") for call in calls(project))
    admin_password = re.search(r"^GF_SECURITY_ADMIN_PASSWORD=(.*)$", env, re.M)[1]  # type: ignore[index]
    assert "http://127.0.0.1:8080" in result.stdout
    assert f"password: {admin_password}" in result.stdout


def test_an_existing_env_is_never_overwritten(project: Path) -> None:
    (project / ".env").write_text("POSTGRES_PASSWORD=mine\nBIND_ADDRESS=0.0.0.0\n")
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert (project / ".env").read_text() == "POSTGRES_PASSWORD=mine\nBIND_ADDRESS=0.0.0.0\n"
    assert "http://localhost:8080" in result.stdout


def test_load_runs_locust_inside_the_api_container_through_apache(project: Path) -> None:
    assert run(project, "load", "--users", "5").returncode == 0
    assert calls(project)[-1].startswith("compose exec api locust -f load/performance_tests.py --host http://apache:80/api")
    assert calls(project)[-1].endswith("--users 5")


def test_an_unknown_command_is_refused(project: Path) -> None:
    result = run(project, "restart-everything")
    assert result.returncode == 1
    assert "unknown command 'restart-everything'" in result.stderr


def test_the_urls_include_alertmanager(project: Path) -> None:
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert "Alertmanager   http://127.0.0.1:9093" in result.stdout


@pytest.mark.parametrize(("old", "new"), [("GF_SMTP_HOST", "SMTP_SMARTHOST"), ("GF_SMTP_USER", "SMTP_AUTH_USERNAME"),
                                          ("GF_SMTP_PASSWORD", "SMTP_AUTH_PASSWORD"),
                                          ("GF_SMTP_FROM_ADDRESS", "SMTP_FROM")])
def test_an_env_with_the_old_smtp_names_stops_before_starting_and_says_what_to_rename(
    project: Path, old: str, new: str
) -> None:
    before = f"POSTGRES_PASSWORD=mine\n{old}=smtp.example.com:587\n"
    (project / ".env").write_text(before)
    result = run(project)
    assert result.returncode == 1
    assert f"{old} -> {new}" in result.stderr
    assert not any(call.startswith("compose up") or call == "compose build" for call in calls(project))
    assert (project / ".env").read_text() == before


def test_an_env_already_migrated_starts_even_with_leftover_old_names(project: Path) -> None:
    (project / ".env").write_text("GF_SMTP_HOST=mailpit:1025\nSMTP_SMARTHOST=smtp.example.com:587\n")
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert any(call.startswith("compose up -d --wait") for call in calls(project))
