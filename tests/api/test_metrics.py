"""/metrics counts what was served, across every worker, without personal data."""

import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator

import httpx
import pytest

UNMATCHED_HANDLER = "none"  # api/app/metrics.py; dashboards and alerts select it by this value
from tests.support import operators
from tests.support.api_server import ApiServer
from tests.support.compose import ROOT
from tests.support.data import traveller
from tests.support.postgres import ThrowawayPostgres
from tests.support.processes import wait_until


def scrape(url: str) -> dict[str, float]:
    """Every sample of /metrics, keyed by `name{labels}` as exposed."""
    text = httpx.get(url + "/metrics", timeout=10).text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def sample(samples: dict[str, float], name: str, **labels: str) -> float:
    """The value of one series (0 if absent), whatever the order of its labels."""
    for key, value in samples.items():
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?", key)
        assert match, key
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if match[1] == name and found == labels:
            return value
    return 0.0


POOL_SIZE = 3  # connections per worker (DB_POOL_SIZE)


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def metered_api(request: pytest.FixtureRequest, postgres: ThrowawayPostgres) -> Iterator[ApiServer]:
    """A fresh API (zeroed counters) with one or two workers."""
    with ApiServer({**postgres.api_env(), "DB_POOL_SIZE": str(POOL_SIZE)}, workers=request.param) as server:
        yield server


# Every label value the API knows in advance (api/app/checkpoint.py's Refusal, the check sources).
REFUSAL_REASONS = ["interpol_hit", "unknown_flight", "lodging_missing", "insufficient_funds", "already_registered"]
SOURCES = ["lookup", "registration"]


def test_known_label_sets_and_saturation_are_exposed_before_any_request(metered_api: ApiServer) -> None:
    # Runs first on a fresh server. A series born at its first increment loses that increment to
    # increase() (the dashboards showed 5.21 where the counter said 6): every known one starts at 0.
    workers = int(metered_api.env["WEB_CONCURRENCY"])
    # /healthz answered once one worker was up: wait until every worker has started (written its files).
    wait_until(lambda: scrape(metered_api.url).get("api_workers") == workers, 20, f"{workers} workers exposed")
    # A worker counts as started before its start-up query (pool.fit_to_server) has given its connection
    # back (CI caught one mid-query: in use 1). A worker publishes its pool's size only after that query,
    # and this server's pools are not shrunk (POOL_SIZE x 2 workers is far under max_connections).
    wait_until(lambda: scrape(metered_api.url).get("api_db_pool_size") == POOL_SIZE * workers, 20,
               "every worker's start-up query done")
    samples = scrape(metered_api.url)
    zeros = [f'immigration_refusals_total{{dry_run="{dry_run}",reason="{reason}"}}'
             for reason in REFUSAL_REASONS for dry_run in ("false", "true")]
    zeros += [f'immigration_{name}_total{{source="{source}"}}' for name in ("interpol_hits", "unknown_flights")
              for source in SOURCES]
    assert {key: samples.get(key) for key in zeros} == dict.fromkeys(zeros, 0.0)
    assert samples["api_workers"] == workers  # every worker's /proc read, not only the one scraped
    assert samples["api_workers_cpu_seconds_total"] > 0
    assert samples["api_workers_resident_memory_bytes"] > workers * 10 * 2**20  # tens of MiB per Python worker
    assert samples["api_db_pool_in_use"] == 0
    assert samples["api_db_pool_size"] == POOL_SIZE * workers
    assert samples["api_db_pool_waits_total"] == 0


def test_known_traffic_gives_matching_counts(metered_api: ApiServer) -> None:
    # A connection per request, so that both workers of a 2-worker server serve some.
    url = metered_api.url
    metered_api.signed_in().close()  # the supervisor account exists
    cookies = operators.session_cookies(url)
    for _ in range(30):
        assert httpx.get(url + "/dni/12345678A", cookies=cookies).status_code == 200
    for _ in range(20):
        assert httpx.get(url + "/dni/11111111Z", cookies=cookies).status_code == 404
    for _ in range(12):
        assert httpx.get(url + "/flights/ZZ9999", cookies=cookies).status_code == 404
    for _ in range(7):
        assert httpx.post(url + "/immigration", json=traveller(), cookies=cookies).status_code == 201
    for _ in range(3):
        assert httpx.post(url + "/immigration", json=traveller(declared_money="1"), cookies=cookies).status_code == 422
    for _ in range(2):
        assert httpx.post(url + "/immigration?dry_run=true", json=traveller(dni="87654321B"), cookies=cookies).status_code == 403
    for _ in range(4):
        assert httpx.post(url + "/immigration", json=traveller(flight_number="ZZ1"), cookies=cookies).status_code == 422
    samples = scrape(metered_api.url)
    # The histogram's count is the request counter: no separate http_requests_total.
    requests = "http_request_duration_seconds_count"
    assert sample(samples, requests, handler="/dni/{dni}", method="GET", status="2xx") == 30
    assert sample(samples, requests, handler="/dni/{dni}", method="GET", status="4xx") == 20
    assert sample(samples, requests, handler="/flights/{flight_number}", method="GET", status="4xx") == 12
    assert sample(samples, requests, handler="/immigration", method="POST", status="2xx") == 7
    assert sample(samples, requests, handler="/immigration", method="POST", status="4xx") == 9
    assert sample(samples, "http_request_duration_seconds_bucket", handler="/dni/{dni}", method="GET", status="2xx",
                  le="+Inf") == 30
    assert not any(key.startswith("http_requests_total") for key in samples)
    assert sample(samples, "immigration_entries_registered_total") == 7
    assert sample(samples, "immigration_refusals_total", reason="insufficient_funds", dry_run="false") == 3
    assert sample(samples, "immigration_refusals_total", reason="interpol_hit", dry_run="true") == 2
    assert sample(samples, "immigration_refusals_total", reason="unknown_flight", dry_run="false") == 4
    assert sample(samples, "immigration_interpol_hits_total", source="lookup") == 30
    assert sample(samples, "immigration_interpol_hits_total", source="registration") == 2
    assert sample(samples, "immigration_unknown_flights_total", source="lookup") == 12
    assert sample(samples, "immigration_unknown_flights_total", source="registration") == 4


def test_latency_buckets_resolve_milliseconds(api: ApiServer) -> None:
    httpx.get(api.url + "/healthz")
    buckets = {key for key in scrape(api.url) if key.startswith("http_request_duration_seconds_bucket")}
    assert any('le="0.005"' in key for key in buckets)
    assert any('le="0.01"' in key for key in buckets)


def test_a_scan_of_unknown_paths_is_one_series(metered_api: ApiServer) -> None:
    """A scanner's 404s are counted, under handler="none", never under their own paths."""
    before = scrape(metered_api.url)
    paths = [f"/scan-{uuid.uuid4().hex}/wp-login.php" for _ in range(25)] + ["/.env", "/none", "/metrics/x"]
    for path in paths:
        assert httpx.get(metered_api.url + path).status_code == 404
    after = scrape(metered_api.url)
    count = "http_request_duration_seconds_count"
    unmatched = {"handler": UNMATCHED_HANDLER, "method": "GET", "status": "4xx"}
    assert sample(after, count, **unmatched) - sample(before, count, **unmatched) == len(paths)
    assert not any("scan-" in key or "wp-login" in key or ".env" in key for key in after)
    handlers = {dict(re.findall(r'(\w+)="([^"]*)"', key)).get("handler") for key in after if key.startswith(count)}
    assert UNMATCHED_HANDLER in handlers
    assert all(handler == UNMATCHED_HANDLER or handler.startswith("/") for handler in handlers), handlers


def test_no_personal_data_in_labels_or_logs(api: ApiServer) -> None:
    entry = traveller(name="Persona Privatissima")
    httpx.post(api.url + "/immigration", json=entry)
    httpx.post(api.url + "/immigration", json=entry)  # a 409, whose database error names the key
    httpx.get(api.url + f"/dni/{entry['dni']}")
    exposed = httpx.get(api.url + "/metrics").text + api.log()
    assert str(entry["dni"]) not in exposed
    assert "Privatissima" not in exposed


def test_metrics_scrapes_are_not_counted(api: ApiServer) -> None:
    for _ in range(3):
        assert httpx.get(api.url + "/metrics").status_code == 200
    handlers = {dict(re.findall(r'(\w+)="([^"]*)"', key)).get("handler") for key in scrape(api.url)}
    assert "/metrics" not in handlers


def test_metrics_is_not_in_the_openapi_schema(api: ApiServer) -> None:
    paths = httpx.get(api.url + "/openapi.json").json()["paths"]
    assert "/dni/{dni}" in paths
    assert "/metrics" not in paths


def test_a_slash_redirect_is_unmatched_and_keeps_the_document_number_out(metered_api: ApiServer) -> None:
    """`/dni/X/` is redirected to `/dni/X` (307) by the router without routing: no template, so "none";
    never the requested path, which would put a document number in a label."""
    count = "http_request_duration_seconds_count"
    redirected = {"handler": UNMATCHED_HANDLER, "method": "GET", "status": "3xx"}
    before = sample(scrape(metered_api.url), count, **redirected)
    response = httpx.get(metered_api.url + "/dni/99999999R/", follow_redirects=False)
    assert response.status_code == 307, response.text
    after = scrape(metered_api.url)
    assert sample(after, count, **redirected) - before == 1
    assert not any("99999999R" in key for key in after)


# A separate interpreter (as tests/support/api_facts.py): the app with one more route, whose error no
# handler takes, served through TestClient; prints /metrics. No database is needed for that route.
_SERVE_A_FAULT = """
from fastapi.testclient import TestClient
from app.main import create_app

app = create_app()

@app.get("/fault/{n}")
def fault(n: int) -> None:
    raise RuntimeError("an unhandled fault")

with TestClient(app, raise_server_exceptions=False) as client:
    assert client.get("/fault/1").status_code == 500
    assert client.get("/fault/2").status_code == 500
    print(client.get("/metrics").text)
"""


def test_an_unhandled_exception_counts_as_a_5xx_under_its_template() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("POSTGRES_", "DB_", "PROMETHEUS_"))}
    # A closed port: the pool's start-up connection fails at once, the app starts anyway.
    env.update(PYTHONPATH=str(ROOT / "api"), POSTGRES_PASSWORD="unused", POSTGRES_HOST="127.0.0.1", POSTGRES_PORT="1")
    with tempfile.TemporaryDirectory() as empty:
        result = subprocess.run([sys.executable, "-c", _SERVE_A_FAULT], capture_output=True, text=True, env=env,
                                cwd=empty, timeout=120)
    assert result.returncode == 0, result.stderr
    assert re.search(r'^http_request_duration_seconds_count\{handler="/fault/\{n\}",method="GET",status="5xx"\} 2\.0$',
                     result.stdout, re.M), result.stdout
