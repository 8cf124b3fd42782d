"""./run.sh backup and restore end to end: run.sh with a stand-in `docker` that runs each container's
command natively, against a real PostgreSQL, a real Pushgateway and (when installed) a real Alertmanager."""

import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.postgres import ThrowawayPostgres
from tests.support.processes import free_port, stop_group, wait_until
from tests.support.run_sh import RunSh

SERVICES = "postgres,api,apache,k6,grafana,prometheus,pushgateway"
NAME = re.compile(r"^promethoide-[0-9]{8}T[0-9]{6}Z$")


def start_server(argv: list[str], address: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    wait_until(lambda: _answers(f"http://{address}/-/ready"), 30, f"{argv[0]} on {address}")
    return process


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    address = f"127.0.0.1:{free_port()}"
    log = tmp_path_factory.mktemp("pushgateway") / "log"
    process = start_server(["prometheus-pushgateway", f"--web.listen-address={address}", "--persistence.file="], address, log)
    try:
        yield address
    finally:
        stop_group(process)


@dataclass
class Project:
    """run.sh with the stand-in docker, a PostgreSQL, and the Grafana and Prometheus volumes as directories."""

    sh: RunSh
    postgres: ThrowawayPostgres
    volumes: Path

    def run(self, *args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.sh.run(*args, cwd=cwd, **extra)

    def calls(self) -> list[str]:
        return self.sh.calls()

    def backups(self, root: Path) -> list[Path]:
        return sorted(p for p in root.iterdir() if NAME.match(p.name))


@pytest.fixture
def project(tmp_path: Path, pushgateway: str) -> Iterator[Project]:
    volumes = tmp_path / "volumes"
    (volumes / "grafana").mkdir(parents=True)
    (volumes / "prometheus" / "chunks_head").mkdir(parents=True)
    (volumes / "prometheus" / "chunks_head" / "000001").write_bytes(os.urandom(4096))
    with sqlite3.connect(volumes / "grafana" / "grafana.db") as db:
        db.execute("CREATE TABLE user (login TEXT)")
        db.execute("INSERT INTO user VALUES ('operator')")
    db.close()
    with ThrowawayPostgres() as pg:
        copy = RunSh.copy(
            tmp_path, pg, SERVICES, STANDIN_ADDRESS_PUSHGATEWAY=pushgateway,
            STANDIN_PATHS=json.dumps({"/var/lib/grafana": str(volumes / "grafana"), "/prometheus": str(volumes / "prometheus")}),
        )
        yield Project(copy, pg, volumes)


def register(pg: ThrowawayPostgres, first: int, count: int) -> None:
    pg.psql(
        "INSERT INTO immigration (name, dni, lodging, declared_money, flight_number) "
        f"SELECT 'Traveller ' || n, 'RS' || lpad(n::text, 8, '0'), 'Hotel', 900, 'LA800' FROM generate_series({first}, {first + count - 1}) n"
    )


def pushed(pushgateway: str) -> dict[str, float]:
    """The backup job's metrics on the Pushgateway, by name."""
    text = httpx.get(f"http://{pushgateway}/metrics", timeout=5).text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.labels.get("job") == "promethoide_backup" and s.name.startswith("promethoide_backup_")}


def position(calls: list[str], prefix: str) -> int:
    return next(i for i, call in enumerate(calls) if call.startswith(prefix))


def test_a_backup_is_complete_private_checksummed_and_pushed(project: Project, tmp_path: Path, pushgateway: str) -> None:
    register(project.postgres, 1, 30)
    before = time.time()
    result = project.run("backup", "--with-prometheus", str(tmp_path / "store"),
                         STANDIN_IMAGES="postgres:18.4,grafana/grafana:13.3.0,postgres:18.4")
    assert result.returncode == 0, result.stderr
    [backup] = project.backups(tmp_path / "store")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    files = {p.name for p in backup.iterdir()}
    assert files == {"postgres.dump", "postgres.rows.tsv", "grafana.db", "prometheus.tar", "manifest.json", "SHA256SUMS"}
    assert all(stat.S_IMODE((backup / name).stat().st_mode) == 0o600 for name in files)
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["schema_version"] == 2 and manifest["format"] == 1
    assert manifest["written_by"]["images"] == ["grafana/grafana:13.3.0", "postgres:18.4"]
    assert manifest["postgres"]["database"] == project.postgres.database
    assert manifest["postgres"]["rows"] == {"audit_log": 0, "flights": 6, "immigration": 30, "interpol": 5, "operators": 0,
                                            "schema_version": 1, "sessions": 0, "sign_in_attempts": 0}
    assert manifest["written_by"]["postgres_server"] == project.postgres.psql("SHOW server_version")
    assert manifest["written_by"]["pg_dump"].startswith(manifest["written_by"]["postgres_server"].split()[0])
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == files - {"manifest.json", "SHA256SUMS"}
    for name, entry in listed.items():
        assert entry["bytes"] == (backup / name).stat().st_size
    check = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=backup, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert (backup / "grafana.db").read_bytes() == (project.volumes / "grafana" / "grafana.db").read_bytes()
    with tarfile.open(backup / "prometheus.tar") as tar:
        assert "./chunks_head/000001" in tar.getnames()
    # Grafana and Prometheus were stopped for their copies and started again.
    calls = project.calls()
    assert position(calls, "compose stop grafana") < position(calls, "compose run --rm --no-deps -T --entrypoint cat grafana")
    assert position(calls, "compose run --rm --no-deps -T --entrypoint cat grafana") < position(calls, "compose start grafana")
    assert position(calls, "compose stop prometheus") < position(calls, "compose start prometheus")
    metrics = pushed(pushgateway)
    assert metrics["promethoide_backup_success"] == 1
    assert before - 1 <= metrics["promethoide_backup_last_success_timestamp_seconds"] <= time.time() + 1
    assert metrics["promethoide_backup_size_bytes"] > 0


def test_restore_brings_back_the_backup_with_the_api_stopped(project: Project, tmp_path: Path) -> None:
    pg = project.postgres
    register(pg, 1, 50)
    assert project.run("backup", str(tmp_path / "store")).returncode == 0
    [backup] = project.backups(tmp_path / "store")
    original_grafana = (project.volumes / "grafana" / "grafana.db").read_bytes()
    pg.psql("DELETE FROM immigration WHERE id > 10")  # the mistake
    (project.volumes / "grafana" / "grafana.db").write_bytes(b"a broken upgrade")
    (tmp_path / "calls").unlink()

    result = project.run("restore", str(backup))
    assert result.returncode == 0, result.stderr
    assert pg.psql("SELECT count(*) FROM immigration") == "50"
    assert (project.volumes / "grafana" / "grafana.db").read_bytes() == original_grafana
    assert "row counts match the manifest" in result.stdout
    calls = project.calls()
    stopped, staged = position(calls, "compose stop api k6"), position(calls, "compose exec -T postgres sh -c")
    assert stopped < staged
    promoted = max(i for i, call in enumerate(calls) if call.startswith("compose exec -T postgres"))
    assert promoted < position(calls, "compose up -d --wait --wait-timeout 120 api k6")


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def reseal(backup: Path) -> None:
    """Recompute SHA256SUMS, as a backup honestly written that way would have it."""
    names = sorted(p.name for p in backup.iterdir() if p.name != "SHA256SUMS")
    sums = subprocess.run(["sha256sum", *names], cwd=backup, capture_output=True, text=True, check=True).stdout
    (backup / "SHA256SUMS").write_text(sums)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: corrupt(b / "postgres.dump"), "checksums do not match"),
        (lambda b: corrupt(b / "grafana.db"), "checksums do not match"),
        (lambda b: corrupt(b / "manifest.json"), "checksums do not match"),
        (lambda b: (b / "postgres.dump").unlink(), "has no postgres.dump"),
        (lambda b: (b / "SHA256SUMS").unlink(), "has no SHA256SUMS"),
        (lambda b: ((b / "manifest.json").write_text((b / "manifest.json").read_text().replace(
            '"schema_version": 2,', '"schema_version": 3,')), reseal(b)), "schema version 3, newer than this checkout's 2"),
        (lambda b: ((b / "manifest.json").write_text((b / "manifest.json").read_text().replace(
            '"format": 1,', '"format": 9,')), reseal(b)), "format 9, this run.sh reads up to 1"),
    ],
    ids=["dump-altered", "grafana-altered", "manifest-altered", "dump-missing", "sums-missing", "newer-schema", "newer-format"],
)
def test_a_damaged_or_newer_backup_is_refused_and_nothing_touched(project: Project, tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    register(project.postgres, 1, 20)
    assert project.run("backup", str(tmp_path / "store")).returncode == 0
    [backup] = project.backups(tmp_path / "store")
    register(project.postgres, 100, 3)  # written after the backup: must survive a refused restore
    grafana = (project.volumes / "grafana" / "grafana.db").read_bytes()
    damage(backup)
    (tmp_path / "calls").unlink()

    result = project.run("restore", str(backup))
    assert result.returncode == 1
    assert message in result.stderr
    assert project.postgres.psql("SELECT count(*) FROM immigration") == "23"
    assert (project.volumes / "grafana" / "grafana.db").read_bytes() == grafana
    assert not [c for c in project.calls() if re.match(r"compose (stop|up|run|exec)", c)]


def test_a_restore_whose_counts_differ_from_the_manifest_keeps_the_live_database(project: Project, tmp_path: Path) -> None:
    register(project.postgres, 1, 20)
    assert project.run("backup", str(tmp_path / "store")).returncode == 0
    [backup] = project.backups(tmp_path / "store")
    rows = backup / "postgres.rows.tsv"
    rows.write_text(rows.read_text().replace("immigration\t20", "immigration\t21"))
    reseal(backup)
    register(project.postgres, 100, 3)

    result = project.run("restore", str(backup))
    assert result.returncode == 1
    assert "restored row counts differ from the manifest" in result.stderr
    assert "-immigration\t21" in result.stderr and "+immigration\t20" in result.stderr
    assert project.postgres.psql("SELECT count(*) FROM immigration") == "23"
    assert project.postgres.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{project.postgres.database}_restore'") == "0"
    assert project.calls()[-1].startswith("compose up -d --wait --wait-timeout 120 api k6")  # serving again


def staging_databases(pg: ThrowawayPostgres) -> str:
    return pg.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{pg.database}_restore'")


def test_restore_check_rehearses_beside_the_live_database_and_stops_nothing(project: Project, tmp_path: Path) -> None:
    register(project.postgres, 1, 30)
    assert project.run("backup", str(tmp_path / "store")).returncode == 0
    [backup] = project.backups(tmp_path / "store")
    register(project.postgres, 100, 4)  # written since: a rehearsal must not lose them
    grafana = (project.volumes / "grafana" / "grafana.db").read_bytes()
    (tmp_path / "calls").unlink()

    result = project.run("restore", "--check", str(backup))
    assert result.returncode == 0, result.stderr
    assert "Restore check passed" in result.stdout
    assert project.postgres.psql("SELECT count(*) FROM immigration") == "34"
    assert staging_databases(project.postgres) == "0"
    assert (project.volumes / "grafana" / "grafana.db").read_bytes() == grafana
    calls = project.calls()
    assert any(call.startswith("compose exec -T postgres sh -c") for call in calls)  # it did restore somewhere
    assert not [c for c in calls if re.match(r"compose (stop|start|up|run|kill)", c)], calls


@pytest.mark.parametrize(("damage", "message"), [
    (lambda b: corrupt(b / "postgres.dump"), "checksums do not match"),
    (lambda b: ((b / "postgres.rows.tsv").write_text((b / "postgres.rows.tsv").read_text().replace(
        "immigration\t20", "immigration\t21")), reseal(b)), "restored row counts differ from the manifest"),
    (lambda b: ((b / "postgres.dump").write_bytes(b"PGDMP not really a dump"), reseal(b)),
     "PostgreSQL could not restore the dump"),
], ids=["dump-altered", "counts-differ", "dump-unreadable"])
def test_restore_check_fails_on_a_backup_that_would_not_restore(project: Project, tmp_path: Path, damage,  # type: ignore[no-untyped-def]
                                                                 message: str) -> None:
    register(project.postgres, 1, 20)
    assert project.run("backup", str(tmp_path / "store")).returncode == 0
    [backup] = project.backups(tmp_path / "store")
    damage(backup)

    result = project.run("restore", "--check", str(backup))
    assert result.returncode == 1
    assert message in result.stderr
    assert project.postgres.psql("SELECT count(*) FROM immigration") == "20"
    assert staging_databases(project.postgres) == "0"


def test_restore_refuses_stray_arguments(project: Project, tmp_path: Path) -> None:
    for args in (["--check"], ["--check", "a", "b"], ["--bogus"], []):
        result = project.run("restore", *args)
        assert result.returncode != 0 and "use: restore [--check] DIR" in result.stderr, args
    assert not [c for c in project.calls() if re.match(r"compose (stop|start|up|run|exec)", c)]


def test_a_failed_backup_leaves_nothing_and_pushes_the_failure(project: Project, tmp_path: Path, pushgateway: str) -> None:
    assert project.run("backup", str(tmp_path / "store")).returncode == 0
    last_success = pushed(pushgateway)["promethoide_backup_last_success_timestamp_seconds"]
    time.sleep(1.1)  # a new timestamped name
    result = project.run("backup", str(tmp_path / "store"), STANDIN_FAIL="postgres")
    assert result.returncode != 0
    assert "backup FAILED" in result.stderr
    assert len(project.backups(tmp_path / "store")) == 1
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.endswith(".partial")]
    metrics = pushed(pushgateway)
    assert metrics["promethoide_backup_success"] == 0
    assert metrics["promethoide_backup_last_success_timestamp_seconds"] == last_success


def test_grafana_is_started_again_when_its_copy_fails(project: Project, tmp_path: Path) -> None:
    result = project.run("backup", str(tmp_path / "store"), STANDIN_FAIL="grafana")
    assert result.returncode != 0
    assert "backup FAILED" in result.stderr
    assert list((tmp_path / "store").iterdir()) == []
    calls = project.calls()
    assert position(calls, "compose run --rm --no-deps -T --entrypoint cat grafana") < position(calls, "compose start grafana")


def test_a_restore_that_fails_after_the_swap_still_starts_the_api_again(project: Project, tmp_path: Path) -> None:
    register(project.postgres, 1, 12)
    assert project.run("backup", str(tmp_path / "store")).returncode == 0
    [backup] = project.backups(tmp_path / "store")
    project.postgres.psql("DELETE FROM immigration")
    (tmp_path / "calls").unlink()
    result = project.run("restore", str(backup), STANDIN_FAIL="grafana")
    assert result.returncode != 0
    assert "restore FAILED (see above); the API was started again" in result.stderr
    assert project.postgres.psql("SELECT count(*) FROM immigration") == "12"  # the database part was done
    calls = project.calls()
    assert position(calls, "compose start grafana") < position(calls, "compose up -d --wait --wait-timeout 120 api k6")
    assert calls[-1] == "compose up -d --wait --wait-timeout 120 api k6"


def test_old_backups_are_pruned_and_nothing_else(project: Project, tmp_path: Path) -> None:
    store = tmp_path / "store"
    old, recent, foreign = store / "promethoide-20200101T000000Z", store / "promethoide-20991231T000000Z", store / "promethoide-keep"
    stale_partial = store / "promethoide-20200101T000001Z.partial"
    for path in (old, recent, foreign, stale_partial):
        path.mkdir(parents=True)
    result = project.run("backup", str(store), BACKUP_RETENTION_DAYS="7")
    assert result.returncode == 0, result.stderr
    assert not old.exists() and not stale_partial.exists()
    assert recent.exists() and foreign.exists()
    assert len(project.backups(store)) == 2


def test_directories_on_the_command_line_are_the_callers(project: Project, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert project.run("backup", "mine", cwd=elsewhere).returncode == 0
    [backup] = project.backups(elsewhere / "mine")
    result = project.run("restore", f"mine/{backup.name}/", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert f"Restore complete from {backup}" in result.stdout


def test_a_bad_retention_setting_is_refused(project: Project, tmp_path: Path) -> None:
    result = project.run("backup", str(tmp_path / "store"), BACKUP_RETENTION_DAYS="a week")
    assert result.returncode == 1
    assert "BACKUP_RETENTION_DAYS must be a whole number of days" in result.stderr


ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


@pytest.fixture
def alertmanagers(tmp_path: Path) -> Iterator[list[str]]:
    """Two real Alertmanagers: the old host's and a new host's (empty storage)."""
    if ALERTMANAGER is None:
        pytest.skip("Alertmanager is not installed (Debian: prometheus-alertmanager)")
    config = tmp_path / "alertmanager.yml"
    config.write_text('route: {receiver: "null"}\nreceivers: [{name: "null"}]\n')
    processes, addresses = [], []
    try:
        for index in range(2):
            address = f"127.0.0.1:{free_port()}"
            storage = Path(tempfile.mkdtemp(dir=tmp_path))
            processes.append(start_server([ALERTMANAGER, f"--config.file={config}", f"--storage.path={storage}",
                                           f"--web.listen-address={address}", "--cluster.listen-address="],
                                          address, tmp_path / f"alertmanager-{index}.log"))
            addresses.append(address)
        yield addresses
    finally:
        for process in processes:
            stop_group(process)


def silences(address: str) -> list[dict[str, object]]:
    return [s for s in httpx.get(f"http://{address}/api/v2/silences", timeout=5).json() if s["status"]["state"] == "active"]


def test_alertmanager_silences_are_backed_up_and_restored_on_a_new_host(project: Project, tmp_path: Path, alertmanagers: list[str]) -> None:
    old, new = alertmanagers
    subprocess.run(["amtool", "silence", "add", "alertname=HostDiskAlmostFull", "--comment=disk replaced on Monday",
                    "--author=ops", "--duration=48h", f"--alertmanager.url=http://{old}"], check=True, capture_output=True)
    services = SERVICES + ",alertmanager"
    assert project.run("backup", str(tmp_path / "store"), STANDIN_SERVICES=services, STANDIN_ADDRESS_ALERTMANAGER=old).returncode == 0
    [backup] = project.backups(tmp_path / "store")
    assert "HostDiskAlmostFull" in (backup / "alertmanager-silences.json").read_text()

    result = project.run("restore", str(backup), STANDIN_SERVICES=services, STANDIN_ADDRESS_ALERTMANAGER=new)
    assert result.returncode == 0, result.stderr
    [restored] = silences(new)
    assert restored["matchers"] == silences(old)[0]["matchers"]
    assert restored["comment"] == "disk replaced on Monday"
    # Restoring again (the old host, silences still there) does not duplicate them.
    again = project.run("restore", str(backup), STANDIN_SERVICES=services, STANDIN_ADDRESS_ALERTMANAGER=new)
    assert again.returncode == 0, again.stderr
    assert "were not imported" in again.stdout
    assert len(silences(new)) == 1
