"""/metrics counts what was served, across every worker, without personal data."""

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

UNMATCHED_HANDLER = "none"  # api/app/metrics.py; dashboards and alerts select it by this value
from tests.support import operators
from tests.support.api_server import ApiServer
from tests.support.data import traveller
from tests.support.postgres import ThrowawayPostgres


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


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def metered_api(request: pytest.FixtureRequest, postgres: ThrowawayPostgres) -> Iterator[ApiServer]:
    """A fresh API (zeroed counters) with one or two workers."""
    with ApiServer(postgres.api_env(), workers=request.param) as server:
        yield server


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
