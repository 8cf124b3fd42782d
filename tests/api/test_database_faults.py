"""The database goes away and comes back: 503s instead of hangs, a live process, recovery without a restart.

No assertion here measures time: the API's own timeouts (api/app/config.py, about two seconds in all)
decide when it gives up, and a database that is stopped, SIGSTOPped or locked answers nothing until
the test lets it. So a 503/504 proves the API gave up by itself; the client's generous timeout only
turns a hang into a failure. How quickly it gives up is a speed target, for tests/benchmarks/.
"""

import os
import signal
from collections.abc import Iterator

import httpx
import psycopg2
import pytest

from tests.support.api_server import ApiServer
from tests.support.data import traveller
from tests.support.postgres import ThrowawayPostgres

# Longer than any timeout of the API's: reaching it means the API hung.
CLIENT_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A database of this module's own, since its tests stop it."""
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture(scope="module")
def own_api(own_postgres: ThrowawayPostgres) -> Iterator[ApiServer]:
    with ApiServer(own_postgres.api_env(), workers=2) as server:
        yield server


@pytest.fixture
def http(own_api: ApiServer) -> Iterator[httpx.Client]:
    with own_api.signed_in() as client:
        client.timeout = httpx.Timeout(CLIENT_TIMEOUT_S)
        yield client


def _warm(http: httpx.Client) -> None:
    """Fill both workers' pools, so the test sees kept connections go stale, not just new ones fail."""
    for _ in range(20):
        assert http.get("/dni/12345678A").status_code == 200


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_database_down_gives_503_and_recovery_without_restart(
    http: httpx.Client, own_postgres: ThrowawayPostgres, own_api: ApiServer, mode: str
) -> None:
    _warm(http)
    acknowledged = [http.post("/immigration", json=traveller()).json()["id"] for _ in range(5)]
    own_postgres.stop(mode)
    try:
        for path in ("/dni/12345678A", "/flights/AA123", "/immigration", "/readyz"):
            response = http.get(path)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["reason"] == "db_unavailable"
            assert int(response.headers["retry-after"]) >= 1
        refused = http.post("/immigration", json=traveller())
        assert (refused.status_code, refused.json()["reason"]) == (503, "db_unavailable")
        assert http.get("/healthz").status_code == 200
    finally:
        own_postgres.start()
    process = own_api.process
    # Every worker must recover, so ask more often than there are workers and kept connections.
    for _ in range(40):
        assert http.get("/dni/12345678A").status_code == 200
    assert http.get("/readyz").status_code == 200
    assert http.post("/immigration", json=traveller()).status_code == 201
    for entry_id in acknowledged:
        assert http.get(f"/immigration/{entry_id}").status_code == 200
    assert own_api.process is process and process is not None and process.poll() is None


def test_a_statement_past_its_timeout_is_504(own_postgres: ThrowawayPostgres) -> None:
    slow_settings = {"DB_STATEMENT_TIMEOUT_MS": "200"}
    with ApiServer(own_postgres.api_env(), workers=1, **slow_settings) as api, api.signed_in() as http:
        # Hold a lock the registration needs until the API has answered, so its INSERT waits on the
        # uncommitted row (same document, same day) for as long as it takes the statement timeout
        # to strike. The INSERT below returns once the row, and so the lock, is held.
        entry = traveller()
        holder = psycopg2.connect(host=str(own_postgres.dir), port=own_postgres.port, user=own_postgres.superuser,
                                  dbname=own_postgres.database)
        try:
            with holder.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO immigration (name, dni, lodging, declared_money, flight_number) "
                    "VALUES ('Lock', %s, 'x', 600, 'AA123')", (entry["dni"],),
                )
            response = http.post("/immigration", json=entry, timeout=CLIENT_TIMEOUT_S)
        finally:
            holder.rollback()
            holder.close()
        assert response.status_code == 504, response.text
        assert response.json()["reason"] == "db_timeout"


def _server_pids(postgres: ThrowawayPostgres) -> list[int]:
    """The postmaster of `postgres` and its children (backends, background workers)."""
    postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat))
    return [postmaster, *children]


def test_a_database_that_hangs_gives_503_not_a_hang(http: httpx.Client, own_postgres: ThrowawayPostgres) -> None:
    _warm(http)
    pids = _server_pids(own_postgres)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # the server holds its connections open and answers nothing
    try:
        for path in ("/dni/12345678A", "/readyz", "/immigration"):
            response = http.get(path)  # SIGSTOPped: only the API's own timeouts can end this
            assert response.status_code == 503, (path, response.text)
            assert response.json()["reason"] == "db_unavailable"
            assert "retry-after" in response.headers
        assert http.get("/healthz").status_code == 200
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    for _ in range(20):
        assert http.get("/dni/12345678A").status_code == 200
