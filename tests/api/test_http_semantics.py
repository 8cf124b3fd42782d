"""HTTP method semantics (RFC 9110 §9) and the docs page, on the real API (uvicorn, PostgreSQL).

Through Apache the same answers are checked in tests/stack/test_front_door.py.
"""

import base64
import hashlib
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.api_server import ApiServer
from tests.support.postgres import ThrowawayPostgres

# A concrete path for every GET path of the schema (the seed data of postgres/init.sql).
EXAMPLE_PATHS = {
    "/healthz": "/healthz",
    "/readyz": "/readyz",
    "/dni/{dni}": "/dni/12345678A",
    "/flights/{flight_number}": "/flights/AA123",
    "/immigration": "/immigration",
    "/immigration/{entry_id}": "/immigration/2147483647",
    "/auth/me": "/auth/me",
    "/audit": "/audit",
}
# GET paths outside the schema: the metrics, the schema itself and the docs.
UNDOCUMENTED_GET_PATHS = ["/metrics", "/openapi.json", "/docs", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css",
                          "/docs/favicon-32x32.png"]

GET_ONLY = "GET, HEAD, OPTIONS"
# (method, path, status, reason of the JSON error or None, Allow or None)
METHOD_TABLE = [
    ("OPTIONS", "/healthz", 200, None, GET_ONLY),
    ("OPTIONS", "/immigration", 200, None, "GET, HEAD, POST, OPTIONS"),
    ("OPTIONS", "/immigration/1", 200, None, GET_ONLY),
    ("OPTIONS", "/dni/12345678A", 200, None, GET_ONLY),
    ("OPTIONS", "/metrics", 200, None, GET_ONLY),
    ("OPTIONS", "/docs", 200, None, GET_ONLY),
    ("OPTIONS", "/openapi.json", 200, None, GET_ONLY),
    ("PUT", "/immigration", 405, "method_not_allowed", "GET, HEAD, POST, OPTIONS"),
    ("DELETE", "/immigration/1", 405, "method_not_allowed", GET_ONLY),
    ("POST", "/healthz", 405, "method_not_allowed", GET_ONLY),
    ("PATCH", "/flights/AA123", 405, "method_not_allowed", GET_ONLY),
    ("TRACE", "/dni/12345678A", 405, "method_not_allowed", GET_ONLY),
    ("POST", "/metrics", 405, "method_not_allowed", GET_ONLY),
    ("POST", "/docs", 405, "method_not_allowed", GET_ONLY),
    ("DELETE", "/openapi.json", 405, "method_not_allowed", GET_ONLY),
    # uvicorn's parser (httptools) refuses methods it does not know with a 400 of its own; WebDAV's it knows.
    ("PROPFIND", "/healthz", 405, "method_not_allowed", GET_ONLY),
    ("GET", "/no/such/path", 404, "not_found", None),
    ("OPTIONS", "/no/such/path", 404, "not_found", None),
    ("HEAD", "/no/such/path", 404, None, None),  # a HEAD answer has no content to hold the reason
    ("GET", "/docs/no-such-file.js", 404, "not_found", None),
    ("GET", "/redoc", 404, "not_found", None),
]


@pytest.fixture(scope="module")
def prefixed(postgres: ThrowawayPostgres) -> Iterator[httpx.Client]:
    """The API told it is served under /api (ROOT_PATH), called as Apache calls it: prefix stripped."""
    with ApiServer(postgres.api_env(), workers=1, ROOT_PATH="/api") as server, \
            httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def get_paths(client: httpx.Client) -> list[str]:
    """A concrete path for every GET operation of the live schema, and the GET paths outside it."""
    schema = client.get("/openapi.json").json()
    templates = [path for path, operations in schema["paths"].items() if "get" in operations]
    assert set(templates) == set(EXAMPLE_PATHS), "a GET route without an example path in EXAMPLE_PATHS"
    return [EXAMPLE_PATHS[template] for template in templates] + UNDOCUMENTED_GET_PATHS


def test_head_answers_like_get_without_content_on_every_get_route(client: httpx.Client) -> None:
    for path in get_paths(client):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code, path
        assert head.headers["content-type"] == get.headers["content-type"], path
        # /metrics and /audit change between two calls (the GET itself is counted, or audited).
        if "content-length" in get.headers and path not in ("/metrics", "/audit"):
            assert head.headers["content-length"] == get.headers["content-length"], path
        assert head.content == b"", path


def test_head_is_not_an_operation_of_the_schema(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert all(set(operations) <= {"get", "post"} for operations in schema["paths"].values())


@pytest.mark.parametrize(("method", "path", "status", "reason", "allow"), METHOD_TABLE)
def test_each_method_gets_its_answer(
    client: httpx.Client, method: str, path: str, status: int, reason: str | None, allow: str | None
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers.get("allow") == allow
    if reason is not None:
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {"detail", "reason"}
        assert response.json()["reason"] == reason
    if method == "OPTIONS" and status == 200:
        assert response.headers["content-length"] == "0"
        assert response.content == b""


def test_a_405_does_not_echo_the_method(client: httpx.Client) -> None:
    response = client.request("PROPPATCH", "/healthz")
    assert response.status_code == 405
    assert "PROPPATCH" not in response.text


def test_without_a_root_path_the_schema_names_no_server_and_the_docs_use_plain_paths(client: httpx.Client) -> None:
    assert "servers" not in client.get("/openapi.json").json()
    page = client.get("/docs").text
    assert "url: '/openapi.json'" in page
    assert 'src="/docs/swagger-ui-bundle.js"' in page


def test_with_a_root_path_the_schema_and_the_docs_carry_it(prefixed: httpx.Client) -> None:
    assert prefixed.get("/openapi.json").json()["servers"] == [{"url": "/api"}]
    page = prefixed.get("/docs").text
    assert "url: '/api/openapi.json'" in page
    assert 'src="/api/docs/swagger-ui-bundle.js"' in page
    assert 'href="/api/docs/swagger-ui.css"' in page
    assert 'href="/api/docs/favicon-32x32.png"' in page
    assert "http" not in re.sub(r"<!DOCTYPE html>|https?://www\.w3\.org", "", page), "an absolute URL on the page"


def test_with_a_root_path_un_prefixed_paths_still_route(prefixed: httpx.Client) -> None:
    # Prometheus, the blackbox probes and the health checks call the API directly.
    assert prefixed.get("/healthz").json() == {"status": "ok"}
    assert prefixed.get("/metrics").status_code == 200
    assert prefixed.head("/readyz").status_code == 200


def test_the_docs_policy_allows_this_origin_and_the_pages_own_script_only(client: httpx.Client) -> None:
    response = client.get("/docs")
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["style-src"] == "'self'"
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert policy["script-src"] == f"'self' 'sha256-{digest}'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"


def test_the_docs_assets_are_swagger_ui_served_here(client: httpx.Client) -> None:
    script = client.get("/docs/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in script.content
    assert b'PACKAGE_VERSION:"5.34.0"' in script.content  # fastapi-swagger 0.4.64 ships swagger-ui 5.34.0
    style = client.get("/docs/swagger-ui.css")
    assert style.headers["content-type"].startswith("text/css")
    assert b".swagger-ui" in style.content


def test_head_and_options_are_counted_under_their_route_template(client: httpx.Client) -> None:
    client.head("/dni/12345678A")
    client.options("/healthz")
    metrics = client.get("/metrics").text
    assert re.search(r'^http_request_duration_seconds_count\{handler="/dni/\{dni\}",method="HEAD",status="2xx"\} [1-9]', metrics, re.M)
    assert re.search(r'^http_request_duration_seconds_count\{handler="/healthz",method="OPTIONS",status="2xx"\} [1-9]', metrics, re.M)
