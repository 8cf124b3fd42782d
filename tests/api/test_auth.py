"""Sign-in, sessions, roles and the Origin check (issue 12): nobody gets in where they don't belong."""

import hashlib
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support import operators
from tests.support.api_server import ApiServer
from tests.support.data import traveller
from tests.support.operators import COOKIE, OFFICER, SUPERVISOR, Account
from tests.support.postgres import ThrowawayPostgres

# The routes anyone may call: probes, and signing in and out. Every other operation of the schema is
# a business route. A new route is closed unless it is added here on purpose.
OPEN_OPERATIONS = {("get", "/healthz"), ("get", "/readyz"), ("post", "/auth/sign-in"), ("post", "/auth/sign-out")}
SUPERVISOR_OPERATIONS = {("get", "/immigration"), ("get", "/immigration/{entry_id}"), ("get", "/audit")}
# A valid value for every path parameter of the schema: a new parameter fails the test until it is named.
PATH_VALUES = {"dni": "12345678A", "flight_number": "AA123", "entry_id": "1"}


def operations(api: ApiServer) -> list[tuple[str, str]]:
    """Every (method, path template) of the live OpenAPI schema."""
    schema = httpx.get(api.url + "/openapi.json", timeout=10).json()
    return sorted((method, path) for path, ops in schema["paths"].items() for method in ops)


def call(http: httpx.Client, method: str, template: str, **kwargs: object) -> httpx.Response:
    """Call an operation with valid path values (and a valid entry for a POST)."""
    path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m[1]], template)
    if method == "post":
        kwargs.setdefault("json", traveller())
    return http.request(method.upper(), path, **kwargs)  # type: ignore[arg-type]


def business_operations(api: ApiServer) -> list[tuple[str, str]]:
    return [op for op in operations(api) if op not in OPEN_OPERATIONS]


def test_every_business_route_of_the_schema_answers_401_without_a_session(api: ApiServer, anonymous: httpx.Client) -> None:
    business = business_operations(api)
    assert ("get", "/dni/{dni}") in business and ("post", "/immigration") in business  # the schema was read
    for method, path in business:
        response = call(anonymous, method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["reason"] == "not_signed_in", (method, path)


@pytest.mark.parametrize("cookie", ["", "not-a-token", "A" * 43, "x" * 5000])
def test_an_unknown_or_malformed_session_is_401(api: ApiServer, cookie: str) -> None:
    with httpx.Client(base_url=api.url, timeout=10, cookies={COOKIE: cookie}) as http:
        for method, path in business_operations(api):
            response = call(http, method, path)
            assert (response.status_code, response.json()["reason"]) == (401, "not_signed_in"), (method, path)


def test_every_business_route_declares_401_and_the_session_cookie(api: ApiServer) -> None:
    schema = httpx.get(api.url + "/openapi.json", timeout=10).json()
    for method, path in business_operations(api):
        operation = schema["paths"][path][method]
        assert "401" in operation["responses"], (method, path)
        assert {"SessionCookie": []} in operation.get("security", []), (method, path)
    assert schema["components"]["securitySchemes"]["SessionCookie"] == {
        "type": "apiKey", "in": "cookie", "name": COOKIE, "description": "Set by POST /auth/sign-in"}


def test_the_probes_stay_open(anonymous: httpx.Client) -> None:
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/readyz").status_code == 200
    assert anonymous.get("/metrics").status_code == 200


def test_an_officer_gets_403_on_every_supervisor_route_and_in_on_the_others(api: ApiServer, officer: httpx.Client) -> None:
    for method, path in business_operations(api):
        response = call(officer, method, path, params={"dry_run": "true"} if method == "post" else None)
        if (method, path) in SUPERVISOR_OPERATIONS:
            assert (response.status_code, response.json()["reason"]) == (403, "forbidden"), (method, path)
        else:
            assert response.status_code not in (401, 403) or response.json()["reason"] == "interpol_hit", (method, path)


def test_a_supervisor_may_call_every_route(api: ApiServer, client: httpx.Client) -> None:
    for method, path in business_operations(api):
        response = call(client, method, path, params={"dry_run": "true"} if method == "post" else None)
        assert response.status_code not in (401, 403), (method, path, response.text)


class TestSignIn:
    def test_a_sign_in_sets_a_strict_httponly_cookie_and_says_who_and_until_when(self, api: ApiServer) -> None:
        with httpx.Client(base_url=api.url, timeout=10) as http:
            response = http.post("/auth/sign-in", json={"username": OFFICER.username, "password": OFFICER.password})
            assert response.status_code == 200
            body = response.json()
            assert (body["username"], body["role"], body["idle_timeout_s"]) == (OFFICER.username, "officer", 900)
            assert body["expires_at"]
            cookie = response.headers["set-cookie"]
            assert re.match(rf"{COOKIE}=[A-Za-z0-9_-]{{43}};", cookie)
            attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
            assert {"httponly", "samesite=strict", "path=/", "max-age=28800"} <= attributes
            assert "secure" not in attributes  # plain HTTP: a Secure cookie would never come back
            assert http.get("/auth/me").json()["username"] == OFFICER.username

    def test_over_https_the_cookie_is_secure(self, anonymous: httpx.Client) -> None:
        response = anonymous.post("/auth/sign-in", headers={"X-Forwarded-Proto": "https"},
                                  json={"username": OFFICER.username, "password": OFFICER.password})
        assert response.status_code == 200
        assert "secure" in {part.strip().lower() for part in response.headers["set-cookie"].split(";")}

    def test_user_names_are_case_insensitive(self, anonymous: httpx.Client) -> None:
        response = anonymous.post("/auth/sign-in", json={"username": OFFICER.username.upper(), "password": OFFICER.password})
        assert response.json()["username"] == OFFICER.username

    @pytest.mark.parametrize("username, password", [
        (OFFICER.username, "wrong-password-123"),
        ("nobody.here", OFFICER.password),
        (OFFICER.username, OFFICER.password.upper()),
    ], ids=["wrong-password", "unknown-user", "password-case"])
    def test_a_wrong_name_or_password_gets_the_same_401(self, anonymous: httpx.Client, username: str, password: str) -> None:
        response = anonymous.post("/auth/sign-in", json={"username": username, "password": password})
        assert response.status_code == 401
        assert response.json() == {"detail": "The user name or password is wrong.", "reason": "bad_credentials"}
        assert "set-cookie" not in response.headers

    def test_sign_out_ends_the_session_on_the_server(self, api: ApiServer) -> None:
        with operators.signed_in_client(api.url, OFFICER) as http:
            token = http.cookies[COOKIE]
            assert http.get("/dni/00000001").status_code == 404
            response = http.post("/auth/sign-out")
            assert response.status_code == 204
            assert f'{COOKIE}=""' in response.headers["set-cookie"] and "Max-Age=0" in response.headers["set-cookie"]
        # The old token, replayed, is dead: the server forgot it, not only the browser.
        with httpx.Client(base_url=api.url, timeout=10, cookies={COOKIE: token}) as replay:
            response = replay.get("/dni/00000001")
            assert (response.status_code, response.json()["reason"]) == (401, "not_signed_in")
            assert replay.post("/auth/sign-out").status_code == 204  # twice is fine

    def test_the_database_keeps_only_the_tokens_hash(self, api: ApiServer, postgres: ThrowawayPostgres) -> None:
        with operators.signed_in_client(api.url, OFFICER) as http:
            token = http.cookies[COOKIE]
        digest = hashlib.sha256(token.encode()).hexdigest()
        assert postgres.psql(f"SELECT count(*) FROM sessions WHERE token_sha256 = '\\x{digest}'") == "1"
        assert token not in postgres.psql("SELECT string_agg(s::text, ' ') FROM sessions s")


class TestCrossOrigin:
    """State-changing requests only from the API's own origin (SameSite=Strict plus this check)."""

    @pytest.mark.parametrize("headers", [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "https://127.0.0.1"},  # same host, other scheme
    ], ids=["origin", "null-origin", "referer", "other-scheme"])
    def test_a_cross_origin_post_is_refused_and_writes_nothing(
        self, api: ApiServer, client: httpx.Client, postgres: ThrowawayPostgres, headers: dict[str, str]
    ) -> None:
        entry = traveller()
        response = client.post("/immigration", json=entry, headers=headers)
        assert (response.status_code, response.json()["reason"]) == (403, "cross_origin")
        assert postgres.psql(f"SELECT count(*) FROM immigration WHERE dni = '{entry['dni']}'") == "0"

    def test_a_cross_origin_sign_in_is_refused(self, anonymous: httpx.Client) -> None:
        response = anonymous.post("/auth/sign-in", headers={"Origin": "https://evil.example"},
                                  json={"username": OFFICER.username, "password": OFFICER.password})
        assert (response.status_code, response.json()["reason"]) == (403, "cross_origin")
        assert "set-cookie" not in response.headers

    def test_a_cross_origin_sign_out_is_refused(self, client: httpx.Client) -> None:
        response = client.post("/auth/sign-out", headers={"Origin": "https://evil.example"})
        assert (response.status_code, response.json()["reason"]) == (403, "cross_origin")
        assert client.get("/auth/me").status_code == 200

    @pytest.mark.parametrize("headers", [
        {},  # no browser: no Origin, no Referer
        {"Origin": "{own}"},
        {"Referer": "{own}/index.html"},
        {"Origin": "https://checkpoint.example", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "checkpoint.example"},
    ], ids=["no-origin", "own-origin", "own-referer", "behind-the-proxy"])
    def test_a_same_origin_post_passes(self, api: ApiServer, client: httpx.Client, headers: dict[str, str]) -> None:
        headers = {name: value.format(own=api.url) for name, value in headers.items()}
        response = client.post("/immigration", params={"dry_run": "true"}, json=traveller(), headers=headers)
        assert response.status_code == 200, response.text

    def test_a_get_from_another_origin_is_not_state_changing_and_passes(self, client: httpx.Client) -> None:
        assert client.get("/flights/AA123", headers={"Origin": "https://evil.example"}).status_code == 200


def _token(http: httpx.Client) -> bytes:
    return hashlib.sha256(http.cookies[COOKIE].encode()).digest()


class TestSessionLifetime:
    """Expiry is decided by the server's clock: the tests move a session's times back in PostgreSQL."""

    @pytest.fixture
    def session(self, api: ApiServer) -> Iterator[httpx.Client]:
        with operators.signed_in_client(api.url, OFFICER) as http:
            yield http

    def _set(self, postgres: ThrowawayPostgres, http: httpx.Client, assignment: str) -> None:
        key = _token(http).hex()
        changed = f"WITH changed AS (UPDATE sessions SET {assignment} WHERE token_sha256 = '\\x{key}' RETURNING 1) "
        assert postgres.psql(changed + "SELECT count(*) FROM changed") == "1"

    def _last_seen_age_s(self, postgres: ThrowawayPostgres, http: httpx.Client) -> float:
        key = _token(http).hex()
        return float(postgres.psql(
            f"SELECT extract(epoch FROM now() - last_seen_at) FROM sessions WHERE token_sha256 = '\\x{key}'"))

    def test_past_the_shift_the_session_is_expired_then_gone(self, session: httpx.Client, postgres: ThrowawayPostgres) -> None:
        self._set(postgres, session, "expires_at = now()")
        response = session.get("/flights/AA123")
        assert (response.status_code, response.json()["reason"]) == (401, "session_expired")
        assert session.get("/flights/AA123").json()["reason"] == "not_signed_in"  # deleted on the way

    def test_idle_past_the_timeout_the_session_is_expired(self, session: httpx.Client, postgres: ThrowawayPostgres) -> None:
        self._set(postgres, session, "last_seen_at = now() - interval '901 seconds'")
        response = session.get("/flights/AA123")
        assert (response.status_code, response.json()["reason"]) == (401, "session_expired")

    def test_activity_keeps_the_session_alive_writing_at_most_once_a_touch_interval(
        self, session: httpx.Client, postgres: ThrowawayPostgres
    ) -> None:
        # Within the touch interval (60 s): the request is served, last_seen_at is not rewritten.
        self._set(postgres, session, "last_seen_at = now() - interval '30 seconds'")
        assert session.get("/flights/AA123").status_code == 200
        assert self._last_seen_age_s(postgres, session) >= 30
        # Past it, though within the idle timeout: the request renews last_seen_at.
        self._set(postgres, session, "last_seen_at = now() - interval '899 seconds'")
        assert session.get("/flights/AA123").status_code == 200
        assert self._last_seen_age_s(postgres, session) < 30

    def test_a_disabled_operators_session_ends(self, api: ApiServer, postgres: ThrowawayPostgres) -> None:
        account = Account("disabled.soon", "disabled-soon-password", "officer")
        operators.ensure(api.env, account)
        with operators.signed_in_client(api.url, account) as http:
            operators.operators_cli(api.env, "disable", account.username)
            assert http.get("/flights/AA123").json()["reason"] == "not_signed_in"
            response = http.post("/auth/sign-in", json={"username": account.username, "password": account.password})
            assert response.json()["reason"] == "bad_credentials"


def test_all_operators_sessions_survive_one_another(api: ApiServer) -> None:
    """One account may hold many sessions at once (the load test's simulated users share one)."""
    clients = [operators.signed_in_client(api.url, OFFICER) for _ in range(3)]
    try:
        for http in clients:
            assert http.get("/auth/me").status_code == 200
    finally:
        for http in clients:
            http.close()
