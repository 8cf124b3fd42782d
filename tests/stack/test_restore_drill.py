"""Restore drill on the twin: back up while a load test writes, restore on a "new host" (a fresh
PostgreSQL), and find every registration the API acknowledged before the backup began.

./run.sh runs with the stand-in docker (tests/support/docker_standin.py): its `docker compose exec
postgres` runs postgres/backup.sh against the twin's PostgreSQL, its `exec pushgateway` pushes to the
twin's Pushgateway, which the twin's Prometheus scrapes.
"""

import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from tests.support.postgres import ThrowawayPostgres
from tests.support.prometheus import PrometheusClient
from tests.support.run_sh import RunSh
from tests.twin.stack import Twin

LOCUSTFILE = Path(__file__).resolve().parents[2] / "api" / "load" / "performance_tests.py"
# BackupTooOld's expression, as Prometheus loads it: empty while the last good backup is younger than a day.
BACKUP_TOO_OLD = next(rule["expr"] for group in yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "prometheus" / "rules" / "alerts.yml").read_text())["groups"]
    for rule in group["rules"] if rule.get("alert") == "BackupTooOld")


@dataclass(frozen=True)
class Acknowledged:
    id: int
    dni: str
    at: float  # time.time() when the 201 arrived


class Registrar(threading.Thread):
    """Registers fresh travellers through Apache until stopped, keeping every acknowledged entry."""

    def __init__(self, url: str, cookies: httpx.Cookies) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.cookies = cookies  # a signed-in session (registering needs one)
        self.acknowledged: list[Acknowledged] = []
        self.errors: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10, cookies=self.cookies) as http:
            while not self.stopping.is_set():
                dni = "DRILL" + uuid.uuid4().hex[:12].upper()
                entry = {"name": "Drill Traveller", "dni": dni, "lodging": "Hotel Drill", "declared_money": "900.00",
                         "flight_number": "IB789"}
                try:
                    response = http.post(self.url, json=entry)
                except httpx.HTTPError as error:  # unacknowledged: the drill promises nothing about it
                    self.errors.append(repr(error))
                    continue
                if response.status_code == 201:
                    self.acknowledged.append(Acknowledged(response.json()["id"], dni, time.time()))
                else:
                    self.errors.append(f"{response.status_code} {response.text[:200]}")


def test_a_backup_taken_under_load_restores_every_acknowledged_entry_on_a_new_host(
    twin: Twin, prometheus: PrometheusClient, scrape_interval_s: float, tmp_path: Path,
    supervisor_client: httpx.Client,
) -> None:
    live = twin.replicas["postgres"][0].database
    assert live is not None
    pushgateway = twin.endpoints()["pushgateway"][0]
    sh = RunSh.copy(tmp_path / "old-host", live, "postgres,api,k6,pushgateway", STANDIN_ADDRESS_PUSHGATEWAY=pushgateway)

    registrar = Registrar(twin.url("apache", "/api/immigration"), supervisor_client.cookies)
    registrar.start()
    env = {**os.environ, "LOAD_TEST_DURATION": "40", "LOAD_TEST_PEAK_USERS": "8",
           "LOAD_TEST_USERNAME": twin.env["LOAD_TEST_USERNAME"], "LOAD_TEST_PASSWORD": twin.env["LOAD_TEST_PASSWORD"]}
    load = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", twin.url("apache", "/api"), "--headless",
         "--only-summary"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while len(registrar.acknowledged) < 50 and time.monotonic() < deadline:
            time.sleep(0.2)
        began = time.time()
        backup = sh.run("backup", str(tmp_path / "backups"))
        ended = time.time()
        time.sleep(1)  # writes go on after the backup too
    finally:
        registrar.stopping.set()
        registrar.join(30)
        output, _ = load.communicate(timeout=120)
    assert backup.returncode == 0, backup.stderr
    assert load.returncode == 0, output.decode()[-3000:]
    before = [entry for entry in registrar.acknowledged if entry.at < began]
    during = [entry for entry in registrar.acknowledged if began <= entry.at <= ended]
    assert len(before) >= 50, registrar.errors[-5:]
    assert during, "the registrations should go on while the backup runs"
    [directory] = list((tmp_path / "backups").iterdir())

    # A new host: a fresh PostgreSQL, initialised by init.sql as the image does on an empty volume.
    with ThrowawayPostgres() as fresh:
        new_host = RunSh.copy(tmp_path / "new-host", fresh, "postgres,api,k6")
        restore = new_host.run("restore", str(directory))
        assert restore.returncode == 0, restore.stderr
        restored = dict(
            line.split("|") for line in fresh.psql("SELECT id, dni FROM immigration WHERE dni LIKE 'DRILL%'").splitlines()
        )
        missing = [entry for entry in before if restored.get(str(entry.id)) != entry.dni]
        assert not missing, f"{len(missing)} of {len(before)} acknowledged entries not restored, e.g. {missing[:3]}"
        # The restored database is the API's again: its role connects and registers.
        fresh.psql("INSERT INTO immigration (name, dni, lodging, declared_money, flight_number) "
                   "VALUES ('First After Restore', 'AFTER0001', 'Hotel', 900, 'AA123')", user=fresh.api_user)

    # The backup's age reached Prometheus, and the alert on it stays quiet.
    prometheus.wait_until("promethoide_backup_last_success_timestamp_seconds",
                          lambda v: bool(v) and min(v.values()) >= int(began), 4 * scrape_interval_s, label="job")
    assert prometheus.query(BACKUP_TOO_OLD) == []
    assert prometheus.values("promethoide_backup_success", label="job") == {"promethoide_backup": 1.0}
    # The old host kept serving: every acknowledged entry is still in its database.
    live_entries = int(live.psql("SELECT count(*) FROM immigration WHERE dni LIKE 'DRILL%'"))
    assert live_entries >= len(registrar.acknowledged)
