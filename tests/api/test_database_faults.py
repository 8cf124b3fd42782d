"""The database goes away and comes back: quick 503s, a live process, recovery without a restart."""

import os
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.api_server import ApiServer
from tests.support.data import traveller
from tests.support.postgres import ThrowawayPostgres


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
        yield client


def _warm(http: httpx.Client) -> None:
    """Fill both workers' pools, so the test sees kept connections go stale, not just new ones fail."""
    for _ in range(20):
        assert http.get("/dni/12345678A").status_code == 200


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_database_down_gives_quick_503_and_recovery_without_restart(
    http: httpx.Client, own_postgres: ThrowawayPostgres, own_api: ApiServer, mode: str
) -> None:
    _warm(http)
    acknowledged = [http.post("/immigration", json=traveller()).json()["id"] for _ in range(5)]
    own_postgres.stop(mode)
    try:
        for path in ("/dni/12345678A", "/flights/AA123", "/immigration", "/readyz"):
            started = time.monotonic()
            response = http.get(path)
            assert time.monotonic() - started < 2.0
            assert response.status_code == 503, (path, response.text)
            assert response.json()["reason"] == "db_unavailable"
            assert int(response.headers["retry-after"]) >= 1
        started = time.monotonic()
        refused = http.post("/immigration", json=traveller())
        assert (refused.status_code, time.monotonic() - started < 2.0) == (503, True)
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
        # Hold a lock the registration needs, so its INSERT waits past the statement timeout.
        entry = traveller()
        lock = (
            "BEGIN; INSERT INTO immigration (name, dni, lodging, declared_money, flight_number) "
            f"VALUES ('Lock', '{entry['dni']}', 'x', 600, 'AA123'); SELECT pg_sleep(2); ROLLBACK;"
        )
        holder = threading.Thread(target=lambda: own_postgres.psql(lock), daemon=True)
        holder.start()
        time.sleep(0.5)
        started = time.monotonic()
        response = http.post("/immigration", json=entry)
        elapsed = time.monotonic() - started
        holder.join()
        assert response.status_code == 504, response.text
        assert response.json()["reason"] == "db_timeout"
        assert elapsed < 1.5


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


def test_a_database_that_hangs_gives_503_within_two_seconds(http: httpx.Client, own_postgres: ThrowawayPostgres) -> None:
    _warm(http)
    pids = _server_pids(own_postgres)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # the server holds its connections open and answers nothing
    try:
        for path in ("/dni/12345678A", "/readyz", "/immigration"):
            started = time.monotonic()
            response = http.get(path)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.text)
            assert "retry-after" in response.headers
            assert elapsed < 2.0, (path, elapsed)
        assert http.get("/healthz").status_code == 200
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    for _ in range(20):
        assert http.get("/dni/12345678A").status_code == 200
