"""Faults: the API killed, PostgreSQL stopped; monitoring sees it, the page says it, all recovers,
and no registration acknowledged before a fault is missing after it. The API is called signed in as
a supervisor (who may also read entries back); the session outlives both faults, as it is kept in
PostgreSQL."""

import uuid
import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.stack.conftest import PATIENCE_S
from tests.support.prometheus import PrometheusClient
from tests.twin.stack import Twin

pytestmark = pytest.mark.disruptive

API_HEALTH_PROBE = 'probe_success{job="blackbox-api"}'


@pytest.fixture(scope="module")
def api(supervisor_client: httpx.Client) -> httpx.Client:
    return supervisor_client


def register(twin: Twin, api: httpx.Client, count: int) -> list[int]:
    """Register fresh travellers through Apache; the ids of the acknowledged (201) ones."""
    ids = []
    for _ in range(count):
        entry = {"name": "Fault Test", "dni": "F" + uuid.uuid4().hex[:12].upper(), "lodging": "Hotel",
                 "declared_money": "900.00", "flight_number": "IB789"}
        response = api.post(twin.url("apache", "/api/immigration"), json=entry, timeout=PATIENCE_S)
        if response.status_code == 201:
            ids.append(response.json()["id"])
    return ids


@pytest.fixture(scope="module")
def acknowledged(twin: Twin, api: httpx.Client) -> list[int]:
    """Entries acknowledged before the faults; all must be readable once the faults are over."""
    ids = register(twin, api, 20)
    assert len(ids) == 20
    return ids


def test_a_killed_api_is_seen_down_and_recovers(
    twin: Twin, prometheus: PrometheusClient, page: Page, acknowledged: list[int]
) -> None:
    prometheus.wait_until('up{job="api"}', lambda v: len(v) == 2 and all(v.values()), PATIENCE_S)
    twin.stop("api", kill=True)
    try:
        prometheus.wait_until('up{job="api"}', lambda v: len(v) == 2 and not any(v.values()), PATIENCE_S)
        prometheus.wait_until(API_HEALTH_PROBE, lambda v: len(v) == 2 and not any(v.values()), PATIENCE_S)
        page.fill("#dni", "12345678A")
        page.keyboard.press("Enter")
        expect(page.locator("#message")).to_contain_text("The service is unavailable")
    finally:
        twin.start_service("api")
    prometheus.wait_until('up{job="api"}', lambda v: len(v) == 2 and all(v.values()), PATIENCE_S)
    prometheus.wait_until(API_HEALTH_PROBE, lambda v: len(v) == 2 and all(v.values()), PATIENCE_S)


def test_a_stopped_database_gives_503_and_the_api_recovers_without_restart(
    twin: Twin, prometheus: PrometheusClient, acknowledged: list[int], api: httpx.Client
) -> None:
    api_processes = [replica.process for replica in twin.replicas["api"]]
    twin.stop("postgres", kill=True)  # a crash: immediate shutdown, no checkpoint
    try:
        response = api.get(twin.url("apache", "/api/dni/12345678A"), timeout=PATIENCE_S)
        assert response.status_code == 503
        assert response.json()["reason"] == "db_unavailable"
        assert "retry-after" in response.headers
        prometheus.wait_until("pg_up", lambda v: list(v.values()) == [0.0], PATIENCE_S)
        assert httpx.get(twin.url("api", "/healthz"), timeout=PATIENCE_S).status_code == 200
    finally:
        twin.start_service("postgres")
    for _ in range(10):
        assert api.get(twin.url("apache", "/api/dni/12345678A"), timeout=PATIENCE_S).status_code == 200
    assert len(register(twin, api, 3)) == 3
    assert [replica.process for replica in twin.replicas["api"]] == api_processes
    assert all(process is not None and process.poll() is None for process in api_processes)
    prometheus.wait_until("pg_up", lambda v: list(v.values()) == [1.0], PATIENCE_S)


def test_no_registration_acknowledged_before_the_faults_is_missing(twin: Twin, acknowledged: list[int],
                                                                  api: httpx.Client) -> None:
    database = twin.replicas["postgres"][0].database
    assert database is not None
    ids = ", ".join(map(str, acknowledged))
    assert database.psql(f"SELECT count(*) FROM immigration WHERE id IN ({ids})") == str(len(acknowledged))
    for entry_id in acknowledged:
        assert api.get(twin.url("apache", f"/api/immigration/{entry_id}"), timeout=PATIENCE_S).status_code == 200
