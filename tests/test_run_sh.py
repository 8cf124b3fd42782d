"""run.sh, with a stand-in `docker` on PATH that records what it is asked (no engine here)."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.api_server import ApiServer
from tests.support.compose import services
from tests.support.postgres import ThrowawayPostgres
from tests.support.run_sh import RunSh

ROOT = Path(__file__).resolve().parents[1]
SOURCED = ("apache/tls.sh", "alertmanager/ui-auth.sh")

FAKE_DOCKER = """#!/bin/sh
if [ -n "${LOAD_TEST_USERNAME:-}" ]; then
    echo "env LOAD_TEST_USERNAME=$LOAD_TEST_USERNAME LOAD_TEST_PASSWORD=$LOAD_TEST_PASSWORD" >> "$DOCKER_CALLS"
fi
echo "$*" >> "$DOCKER_CALLS"
case "$*" in
    "compose version --short") echo "${FAKE_COMPOSE_VERSION:-2.40.3}" ;;
    "network inspect bridge "*) printf '%s\n' "${FAKE_BRIDGE_GATEWAY-172.17.0.1}" ;;
    # htpasswd from the apache image: this machine's (Debian's apache2-utils), same program.
    "compose run "*"--entrypoint htpasswd apache "*)
        while [ "$1" != apache ]; do shift; done
        shift
        exec htpasswd "$@" ;;
esac
exit 0
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of run.sh and .example.env, and a bin/ directory for the stand-in docker."""
    shutil.copy(ROOT / "run.sh", tmp_path / "run.sh")
    shutil.copy(ROOT / ".example.env", tmp_path / ".example.env")
    # The files run.sh sources on every start (TLS and the UIs' basic auth beyond loopback).
    for script in SOURCED:
        (tmp_path / script).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / script, tmp_path / script)
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


@pytest.mark.parametrize("version", ["1.29.2", "2.16.1", "v2.16.0", "2.9.0"])
def test_compose_without_wait_timeout_is_refused(project: Path, version: str) -> None:
    result = run(project, FAKE_COMPOSE_VERSION=version)
    assert result.returncode == 1
    assert f"Docker Compose 2.17.0 or newer is needed (for 'up --wait-timeout'), found {version}" in result.stderr
    assert not any(call.startswith("compose up") for call in calls(project))


@pytest.mark.parametrize("version", ["2.17.0", "v2.17.0", "2.17.0-desktop.1", "2.40.3", "2.100.0", "5.0.0"])
def test_compose_2_17_and_newer_are_accepted(project: Path, version: str) -> None:
    result = run(project, FAKE_COMPOSE_VERSION=version)
    assert result.returncode == 0, result.stderr
    assert any(call.startswith("compose up -d --wait --wait-timeout") for call in calls(project))


def test_an_unreadable_compose_version_is_refused(project: Path) -> None:
    result = run(project, FAKE_COMPOSE_VERSION="dev")
    assert result.returncode == 1
    assert "cannot read the Docker Compose version from 'dev'" in result.stderr


def test_the_wait_outlasts_every_start_period() -> None:
    wait = re.search(r"--wait-timeout (\d+)", (ROOT / "run.sh").read_text())
    assert wait
    for name, service in services().items():
        start = service["healthcheck"].get("start_period", "0s")
        assert start.endswith("s") and int(start[:-1]) < int(wait[1]), (name, start)


@pytest.mark.parametrize(("gateway", "expected"), [("172.31.0.1", "172.31.0.1"), ("", "172.17.0.1")])
def test_first_run_points_node_exporter_at_this_engine_s_host_gateway(project: Path, gateway: str, expected: str) -> None:
    assert run(project, FAKE_BRIDGE_GATEWAY=gateway).returncode == 0
    assert re.findall(r"^NODE_EXPORTER_ADDRESS=(.*)$", (project / ".env").read_text(), re.M) == [expected]


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


def test_the_printed_urls_are_the_published_ports(project: Path) -> None:
    result = run(project)
    assert result.returncode == 0, result.stderr
    printed = {int(port) for port in re.findall(r"http://127\.0\.0\.1:(\d+)", result.stdout)}
    # 9443 is no page: remote sites' agents write there (./run.sh site-credentials prints what they need).
    published = {int(str(port).split(":")[-2]) for service in services().values() for port in service.get("ports", [])}
    assert printed == published - {9443}


def test_an_existing_env_is_never_overwritten(project: Path) -> None:
    settings = "POSTGRES_PASSWORD=mine\nBIND_ADDRESS=0.0.0.0\nMONITORING_UI_USERNAME=admin\nMONITORING_UI_PASSWORD=pw\n"
    (project / ".env").write_text(settings)
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert (project / ".env").read_text() == settings
    assert "https://localhost:8080" in result.stdout  # beyond loopback: HTTPS (tests/test_run_sh_tls.py)


def test_load_runs_locust_inside_the_api_container_through_apache(project: Path) -> None:
    assert run(project).returncode == 0  # creates .env
    result = run(project, "load", "--users", "5")
    assert result.returncode == 0, result.stderr
    env = dict(re.findall(r"(LOAD_TEST_\w+)=(\S+)", (project / ".env").read_text()))
    # The load-test account goes by name into the container's environment, never on the command line.
    assert calls(project)[-2] == f"env LOAD_TEST_USERNAME={env['LOAD_TEST_USERNAME']} LOAD_TEST_PASSWORD={env['LOAD_TEST_PASSWORD']}"
    assert env["LOAD_TEST_PASSWORD"] not in calls(project)[-1]
    assert calls(project)[-1].startswith("compose exec -e LOAD_TEST_USERNAME -e LOAD_TEST_PASSWORD api locust -f "
                                         "load/performance_tests.py --host http://apache:80/api")
    assert calls(project)[-1].endswith("--users 5")


def test_an_unknown_command_is_refused(project: Path) -> None:
    result = run(project, "restart-everything")
    assert result.returncode == 1
    assert "unknown command 'restart-everything'" in result.stderr


# -- backup and restore: their refusals, before anything is stopped (end to end: tests/backup/) ------------

@pytest.fixture
def backup_project(project: Path) -> Path:
    """The project copy, with the files run.sh backup and restore read."""
    for name in ("backup/backup.sh", "postgres/backup.sh", "postgres/init.sql"):
        (project / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, project / name)
    return project


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["restore"], "restore: give one backup directory (use: restore [--check] DIR)"),
        (["restore", "a", "b"], "restore: give one backup directory (use: restore [--check] DIR)"),
        (["restore", "{project}/no-such-dir"], "restore: {project}/no-such-dir is not a directory"),
        (["restore", "{project}/backups/promethoide-20261129T070000Z.partial"], "is an incomplete backup (.partial): refused"),
        (["restore", "{project}/backups/empty"], "has no SHA256SUMS: not a complete backup, refused"),
        (["backup", "--everything"], "backup: unknown option '--everything'"),
        (["backup", "one", "two"], "backup: one directory at most"),
    ],
)
def test_backup_and_restore_refuse_bad_arguments_before_touching_anything(backup_project: Path, args: list[str], message: str) -> None:
    (backup_project / "backups" / "promethoide-20261129T070000Z.partial").mkdir(parents=True)
    (backup_project / "backups" / "empty").mkdir()
    result = run(backup_project, *(arg.format(project=backup_project) for arg in args))
    assert result.returncode == 1
    assert message.format(project=backup_project) in result.stderr
    assert not [call for call in calls(backup_project) if call.startswith(("compose stop", "compose up", "compose exec", "compose run"))]


def test_a_backup_whose_dump_holds_nothing_fails_and_keeps_nothing(backup_project: Path) -> None:
    store = backup_project / "store"
    result = run(backup_project, "backup", str(store))  # the stand-in's `exec` prints nothing: an empty dump
    assert result.returncode == 1
    assert "the dump holds no table" in result.stderr and "backup FAILED" in result.stderr
    assert list(store.iterdir()) == []
    assert calls(backup_project)[-2] == "esac backup.sh count"  # the script's last line, then its arguments
    assert calls(backup_project)[-1] == "compose config --services"  # looking for the Pushgateway to report the failure
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


# -- operator accounts: the real CLI (python -m app.operators) against a real PostgreSQL ---------------------

@pytest.fixture
def operator_project(tmp_path: Path, postgres: ThrowawayPostgres) -> RunSh:
    """A project copy whose stand-in docker runs the api container's commands here, on the session's database."""
    api_env = {**postgres.api_env(), "PYTHONPATH": str(ROOT / "api"),
               "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    sh = RunSh.copy(tmp_path, postgres, "postgres,api", STANDIN_ENV_API=json.dumps(api_env))
    for script in SOURCED:
        (tmp_path / script).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / script, tmp_path / script)
    return sh


def signs_in(api: ApiServer, username: str, password: str) -> int:
    return httpx.post(api.url + "/auth/sign-in", json={"username": username, "password": password}, timeout=10).status_code


GENERATED = re.compile(r"Password of (\S+) \(shown once, keep it safe\): (\S+)")


def test_operator_add_list_disable_reset_password(operator_project: RunSh, api: ApiServer) -> None:
    name = "clerk." + uuid.uuid4().hex[:8]
    added = operator_project.run("operator", "add", name)
    assert added.returncode == 0, added.stderr
    assert operator_project.calls()[-1] == f"compose exec api python -m app.operators add {name}"
    match = GENERATED.search(added.stdout)  # no terminal: a password is generated and shown once
    assert match and match[1] == name
    assert signs_in(api, name, match[2]) == 200

    again = operator_project.run("operator", "add", name.upper())
    assert (again.returncode, again.stderr.strip()) == (1, f"refused: an operator named {name} exists already (use reset-password)")

    listed = operator_project.run("operator", "list")
    assert re.search(rf"^{re.escape(name)}\s+officer\s+enabled\s", listed.stdout, re.MULTILINE), listed.stdout
    assert "$argon2id$" not in listed.stdout and match[2] not in listed.stdout

    assert operator_project.run("operator", "disable", name).returncode == 0
    assert signs_in(api, name, match[2]) == 401
    reset = operator_project.run("operator", "reset-password", name)
    new = GENERATED.search(reset.stdout)
    assert reset.returncode == 0 and new and new[2] != match[2]
    assert signs_in(api, name, new[2]) == 401  # still disabled: a reset does not enable
    listed = operator_project.run("operator", "list")
    assert re.search(rf"^{re.escape(name)}\s+officer\s+disabled\s", listed.stdout, re.MULTILINE)


def test_operator_add_with_the_supervisor_role(operator_project: RunSh, api: ApiServer) -> None:
    name = "chief." + uuid.uuid4().hex[:8]
    added = operator_project.run("operator", "add", name, "--role", "supervisor")
    match = GENERATED.search(added.stdout)
    assert match
    with httpx.Client(base_url=api.url, timeout=10) as http:
        assert http.post("/auth/sign-in", json={"username": name, "password": match[2]}).json()["role"] == "supervisor"
        assert http.get("/audit").status_code == 200


@pytest.mark.parametrize(("args", "status", "message"), [
    ([], 1, "usage: ./run.sh operator add NAME"),
    (["add", "Bad Name!"], 2, "a user name is 3 to 64 of a-z, 0-9"),
    (["add", "ab"], 2, "a user name is 3 to 64 of a-z, 0-9"),
    (["add", "someone", "--role", "admin"], 2, "invalid choice: 'admin'"),
    (["disable", "nobody.at.all"], 1, "refused: no operator is named nobody.at.all"),
    (["reset-password", "nobody.at.all"], 1, "refused: no operator is named nobody.at.all"),
    (["ensure", "svc.account", "--password-env", "UNSET_VARIABLE"], 1, "refused: $UNSET_VARIABLE: a password has at least 12"),
    (["grant-everything"], 2, "invalid choice: 'grant-everything'"),
])
def test_operator_refuses_bad_input_clearly(operator_project: RunSh, args: list[str], status: int, message: str) -> None:
    result = operator_project.run("operator", *args)
    assert result.returncode == status
    assert message in result.stderr, result.stderr


def test_first_run_creates_one_supervisor_and_the_test_accounts_from_env(operator_project: RunSh, api: ApiServer,
                                                                         postgres: ThrowawayPostgres) -> None:
    # The session's database may have a supervisor already (other tests): start from none, as a first run does.
    postgres.psql("UPDATE operators SET role = 'officer' WHERE role = 'supervisor'")
    (operator_project.dir / ".env").unlink()  # a first run: .env is made from .example.env
    try:
        first = operator_project.run()
        assert first.returncode == 0, first.stderr
        match = re.search(r"Operator page supervisor  user: supervisor  password: (\S+)", first.stdout)
        assert match, first.stdout
        assert first.stdout.index("Promethoide is up.") < match.start()  # below the URLs, where it is seen
        assert signs_in(api, "supervisor", match[1]) == 200
        env = (operator_project.dir / ".env").read_text()
        for prefix in ("SMOKE_TEST", "LOAD_TEST"):
            name = re.search(rf"^{prefix}_USERNAME=(.+)$", env, re.MULTILINE)[1]  # type: ignore[index]
            password = re.search(rf"^{prefix}_PASSWORD=(.+)$", env, re.MULTILINE)[1]  # type: ignore[index]
            assert signs_in(api, name, password) == 200, prefix
            assert password not in " ".join(operator_project.calls())  # by name (-e VAR), never on a command line
        second = operator_project.run()
        assert second.returncode == 0 and "Operator page supervisor" not in second.stdout  # shown once only
        assert signs_in(api, "supervisor", match[1]) == 200
    finally:  # the other tests' supervisor, as it was
        postgres.psql("UPDATE operators SET role = 'supervisor' WHERE username = 'supervisor.test'")
