"""Every answer a client can get at the front door (Apache, port 80), with the real API behind it.

Under /api/ a client always gets the API's JSON error contract {detail, reason}, whoever answers:
the API (its 404, 405) or Apache itself (404, 411, 413, 414, 501). Methods follow RFC 9110: HEAD
answers like GET without content, OPTIONS and every 405 name the path's methods in `Allow`.
The API's 502/503 outages are in tests/apache/test_apache_live.py (stand-in backends) and
tests/stack/test_faults.py.
"""

import json
import re
import socket
from typing import NamedTuple

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.twin.stack import Twin

GET_ONLY = "GET, HEAD, OPTIONS"
NO_CONTENT_POLICY = "default-src 'none'; frame-ancestors 'none'"


class Answer(NamedTuple):
    """What one request must get: status, content type, JSON `reason` (errors) and `Allow`."""

    method: str
    path: str
    status: int
    content_type: str | None
    reason: str | None = None
    allow: str | None = None


TABLE = [
    # the page: read-only
    Answer("GET", "/", 200, "text/html"),
    Answer("HEAD", "/", 200, "text/html"),
    Answer("POST", "/", 405, "application/json", "method_not_allowed", "GET, HEAD"),
    Answer("OPTIONS", "/index.html", 405, "application/json", "method_not_allowed", "GET, HEAD"),
    Answer("TRACE", "/", 405, "application/json", "method_not_allowed", "GET, HEAD"),
    Answer("DELETE", "/delay", 405, "application/json", "method_not_allowed", "GET, HEAD"),
    # the API: every method of its routes, answered by the API
    Answer("GET", "/api/healthz", 200, "application/json"),
    Answer("HEAD", "/api/healthz", 200, "application/json"),
    Answer("HEAD", "/api/readyz", 200, "application/json"),
    Answer("OPTIONS", "/api/healthz", 200, None, None, GET_ONLY),
    Answer("OPTIONS", "/api/immigration", 200, None, None, "GET, HEAD, POST, OPTIONS"),
    Answer("OPTIONS", "/api/dni/12345678A", 200, None, None, GET_ONLY),
    Answer("PUT", "/api/immigration", 405, "application/json", "method_not_allowed", "GET, HEAD, POST, OPTIONS"),
    Answer("PATCH", "/api/immigration/1", 405, "application/json", "method_not_allowed", GET_ONLY),
    Answer("DELETE", "/api/dni/12345678A", 405, "application/json", "method_not_allowed", GET_ONLY),
    Answer("POST", "/api/healthz", 405, "application/json", "method_not_allowed", GET_ONLY),
    Answer("TRACE", "/api/healthz", 405, "application/json", "method_not_allowed", GET_ONLY),
    Answer("POST", "/api/docs", 405, "application/json", "method_not_allowed", GET_ONLY),
    Answer("GET", "/api/no/such/path", 404, "application/json", "not_found"),
    Answer("OPTIONS", "/api/no/such/path", 404, "application/json", "not_found"),
    Answer("GET", "/api/docs/no-such-file.js", 404, "application/json", "not_found"),
    Answer("GET", "/api/redoc", 404, "application/json", "not_found"),
    Answer("GET", "/api/", 404, "application/json", "not_found"),
    # ... and what Apache answers itself under /api
    Answer("BREW", "/api/healthz", 501, "application/json", "not_implemented"),
    Answer("PROPFIND", "/api/immigration", 501, "application/json", "not_implemented"),
    Answer("GET", "/api", 404, "application/json", "not_found"),
    Answer("GET", "/api/metrics", 404, "application/json", "not_found"),
    Answer("HEAD", "/api/metrics", 404, "application/json"),
    Answer("GET", "/api/%6Detrics", 404, "application/json", "not_found"),
    Answer("GET", "/api/dni/" + "9" * 9000, 414, "application/json", "uri_too_long"),
    # the docs, from the API's own origin
    Answer("GET", "/api/docs", 200, "text/html"),
    Answer("HEAD", "/api/docs", 200, "text/html"),
    Answer("GET", "/api/docs/swagger-ui-bundle.js", 200, "text/javascript"),
    Answer("GET", "/api/docs/swagger-ui.css", 200, "text/css"),
    Answer("GET", "/api/openapi.json", 200, "application/json"),
]


def ask(twin: Twin, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, twin.url("apache", path), timeout=15, **kwargs)  # type: ignore[arg-type]


def assert_json_error(response: httpx.Response, reason: str | None) -> None:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "reason"}, body
    assert reason is None or body["reason"] == reason


@pytest.mark.parametrize("answer", TABLE, ids=[f"{a.method} {a.path[:40]}" for a in TABLE])
def test_each_method_on_each_path(twin: Twin, answer: Answer) -> None:
    response = ask(twin, answer.method, answer.path)
    assert response.status_code == answer.status
    assert response.headers.get("allow") == answer.allow
    if answer.content_type is None:
        assert response.content == b"" and response.headers["content-length"] == "0"
    else:
        assert response.headers["content-type"].split(";")[0] == answer.content_type
    if answer.method == "HEAD":
        assert response.content == b""
    elif answer.reason is not None:
        assert_json_error(response, answer.reason)
    if answer.path.startswith("/api") and response.status_code >= 400 and answer.method != "HEAD":
        assert_json_error(response, None)  # never an HTML page under /api
    if answer.path.startswith("/api") and answer.path != "/api/docs":
        assert response.headers["content-security-policy"] == NO_CONTENT_POLICY
        assert response.headers["cache-control"] == "no-store"


def test_head_answers_like_get_on_every_get_route_of_the_schema(twin: Twin) -> None:
    schema = ask(twin, "GET", "/api/openapi.json").json()
    examples = {"{dni}": "12345678A", "{flight_number}": "AA123", "{entry_id}": "1"}
    paths = [path for path, operations in schema["paths"].items() if "get" in operations]
    assert len(paths) >= 6
    for template in paths:
        path = "/api" + re.sub(r"\{\w+\}", lambda m: examples[m.group(0)], template)
        get, head = ask(twin, "GET", path), ask(twin, "HEAD", path)
        assert (head.status_code, head.headers["content-type"]) == (get.status_code, get.headers["content-type"]), path
        assert head.headers["content-length"] == get.headers["content-length"], path
        assert head.content == b"", path


def test_the_body_limits_are_json(twin: Twin) -> None:
    too_large = ask(twin, "POST", "/api/immigration", content=b"{" + b" " * 20_000 + b"}",
                    headers={"Content-Type": "application/json"})
    assert too_large.status_code == 413
    assert_json_error(too_large, "body_too_large")
    assert chunked_post_status(twin) == 411


def chunked_post_status(twin: Twin) -> int:
    """A chunked POST (no Content-Length) to /api/immigration, sent as raw bytes; the status."""
    with socket.create_connection(("apache", 80), timeout=15) as connection:
        connection.sendall(b"POST /api/immigration HTTP/1.1\r\nHost: apache\r\nConnection: close\r\n"
                           b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()
    assert set(json.loads(body)) == {"detail", "reason"}
    return int(head.split(b" ", 2)[1])


SUPERVISOR = ("front-door-supervisor", "a supervisor's long passphrase")


def test_the_apis_redirects_keep_the_prefix(twin: Twin) -> None:
    twin.ensure_operator(*SUPERVISOR, role="supervisor")  # GET /immigration is a supervisor's
    signed_in = ask(twin, "POST", "/api/auth/sign-in", json={"username": SUPERVISOR[0], "password": SUPERVISOR[1]})
    assert signed_in.status_code == 200, signed_in.text
    cookies = signed_in.cookies
    response = ask(twin, "GET", "/api/immigration/?limit=1", cookies=cookies)
    assert response.status_code == 307
    assert re.fullmatch(r"(http://apache(:80)?)?/api/immigration\?limit=1", response.headers["location"])
    assert ask(twin, "GET", response.headers["location"].removeprefix("http://apache"), cookies=cookies).status_code == 200


def test_the_schema_names_the_prefix_as_its_server(twin: Twin) -> None:
    assert ask(twin, "GET", "/api/openapi.json").json()["servers"] == [{"url": "/api"}]


def test_the_api_still_answers_un_prefixed_paths_directly(twin: Twin) -> None:
    # Prometheus, the blackbox probes and the health checks call api:8000 without /api.
    assert httpx.get(twin.url("api", "/healthz")).json() == {"status": "ok"}
    assert httpx.get(twin.url("api", "/metrics")).status_code == 200
    assert httpx.head(twin.url("api", "/readyz")).status_code == 200


def test_the_docs_work_through_the_front_door_in_a_browser(browser: Browser, twin: Twin, artifacts) -> None:
    """Swagger UI loads from our origin with no CSP violation, and "Try it out" calls /api/..."""
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if _is_problem(message) else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    outside: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(("http://apache/", "data:")) else outside.append(request.url))
    # Every violation of the page's policy, as the browser reports it to the page.
    page.add_init_script("window.violations = []; document.addEventListener('securitypolicyviolation',"
                         " (e) => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));")
    violations: list[str] = []
    try:
        page.goto(twin.url("apache", "/api/docs"))
        operation = page.locator("#operations-health-healthz_healthz_get")
        expect(operation).to_be_visible(timeout=20_000)
        operation.locator(".opblock-summary").click()
        page.locator("#operations-health-healthz_healthz_get .try-out__btn").click()
        with page.expect_response(lambda response: "/healthz" in response.url) as called:
            page.locator("#operations-health-healthz_healthz_get .execute").click()
        assert called.value.url == "http://apache/api/healthz"
        assert called.value.status == 200
        expect(page.locator("#operations-health-healthz_healthz_get .request-url")).to_contain_text("/api/healthz")
        expect(page.locator(".servers select")).to_have_value("/api")
        violations = page.evaluate("window.violations")
    finally:
        page.screenshot(path=str(artifacts / "api_docs.png"), full_page=True)
        context.close()
    assert violations == []
    assert problems == []
    assert outside == []


def _is_problem(message: ConsoleMessage) -> bool:
    """A console error or warning (a CSP violation is reported as one)."""
    return message.type in ("error", "warning")


def _route_requests(address: str, route: str) -> float:
    """Requests a replica has counted for one route (every method and status), from its own /metrics."""
    text = httpx.get(f"http://{address}:8000/metrics", timeout=30).text
    pattern = re.compile(r'^http_request_duration_seconds_count\{(.*)\} (\S+)$', re.M)
    return sum(float(value) for labels, value in pattern.findall(text) if f'handler="{route}"' in labels)


# mod_proxy alone connected to the first address the C library returned for "api", and glibc's
# getaddrinfo sorts the addresses (RFC 6724 rule 9 on one IPv4 subnet): 200 of 200 requests went to one
# replica. The balancer (httpd.conf, members from apache/entrypoint.sh) takes them in turn.
def test_requests_through_apache_spread_over_the_api_replicas(twin: Twin, supervisor_client: httpx.Client) -> None:
    """200 requests through Apache, signed in: each replica counts at least 20% of them (counts, not timing)."""
    requests, route = 200, "/flights/{flight_number}"
    replicas = twin.addresses["api"]
    assert len(replicas) >= 2
    before = {address: _route_requests(address, route) for address in replicas}
    with httpx.Client(timeout=30, cookies=supervisor_client.cookies) as client:
        for _ in range(requests):
            assert client.get(twin.url("apache", "/api/flights/IB789")).status_code == 200
    served = {address: _route_requests(address, route) - before[address] for address in replicas}
    assert sum(served.values()) >= requests  # the smoke test may add its own
    assert min(served.values()) >= 0.2 * requests, served
