"""The audit trail (issue 12): a row for every action, readable by supervisors, free of secrets."""

import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.support import operators
from tests.support.api_server import ApiServer
from tests.support.data import traveller
from tests.support.operators import COOKIE, OFFICER, SUPERVISOR
from tests.support.postgres import ThrowawayPostgres


def audit_row(postgres: ThrowawayPostgres, request_id: str) -> dict[str, object]:
    """The one audit row of a request, read as the superuser."""
    rows = postgres.psql(f"SELECT row_to_json(a) FROM audit_log a WHERE request_id = '{request_id}'").splitlines()
    assert len(rows) == 1, rows
    return json.loads(rows[0])


def with_id() -> dict[str, str]:
    return {"X-Request-ID": "test-" + uuid.uuid4().hex}


DNI = "T" + uuid.uuid4().hex[:10].upper()  # a document number only this module registers

# (who, method, path, params/body, expected action, subject, outcome, reason)
ACTIONS = [
    ("officer", "GET", "/dni/12345678A", None, "document_check", "12345678A", "ok", "listed"),
    ("officer", "GET", "/dni/00000001", None, "document_check", "00000001", "refused", "not_listed"),
    ("officer", "GET", "/flights/ba0456", None, "flight_check", "BA456", "ok", None),
    ("officer", "GET", "/flights/ZZ999", None, "flight_check", "ZZ999", "refused", "unknown_flight"),
    ("officer", "POST", "/immigration?dry_run=true", traveller(dni=DNI), "registration_dry_run", DNI, "ok", None),
    ("officer", "POST", "/immigration", traveller(dni=DNI), "registration", DNI, "ok", None),
    ("officer", "POST", "/immigration", traveller(dni=DNI), "registration", DNI, "refused", "already_registered"),
    ("officer", "POST", "/immigration", traveller(dni="12345678A"), "registration", "12345678A", "refused", "interpol_hit"),
    ("supervisor", "GET", "/immigration/2147483647", None, "entry_read", "2147483647", "refused", "not_found"),
    ("supervisor", "GET", f"/immigration?dni={DNI}", None, "list_read", DNI, "ok", None),
    ("supervisor", "GET", "/immigration", None, "list_read", None, "ok", None),
    ("supervisor", "GET", "/audit?limit=1", None, "audit_read", None, "ok", None),
]


@pytest.mark.parametrize("who, method, path, body, action, subject, outcome, reason", ACTIONS,
                         ids=[f"{a[4]}-{a[6]}-{i}" for i, a in enumerate(ACTIONS)])
def test_every_action_leaves_one_audit_row(
    client: httpx.Client, officer: httpx.Client, postgres: ThrowawayPostgres,
    who: str, method: str, path: str, body: object, action: str, subject: str | None, outcome: str, reason: str | None,
) -> None:
    http = officer if who == "officer" else client
    headers = with_id()
    response = http.request(method, path, json=body, headers=headers)
    assert response.status_code < 500, response.text
    row = audit_row(postgres, headers["X-Request-ID"])
    account = OFFICER if who == "officer" else SUPERVISOR
    assert {k: row[k] for k in ("operator", "action", "subject", "outcome", "reason", "client_address")} == {
        "operator": account.username, "action": action, "subject": subject, "outcome": outcome, "reason": reason,
        "client_address": "127.0.0.1",
    }


def test_a_registered_entry_records_who_registered_it(officer: httpx.Client, client: httpx.Client) -> None:
    created = officer.post("/immigration", json=traveller())
    assert created.status_code == 201
    assert created.json()["registered_by"] == OFFICER.username
    assert client.get(f"/immigration/{created.json()['id']}").json()["registered_by"] == OFFICER.username


def test_sign_ins_sign_outs_and_their_failures_are_audited(api: ApiServer, postgres: ThrowawayPostgres) -> None:
    with httpx.Client(base_url=api.url, timeout=10) as http:
        attempts = [
            ({"username": OFFICER.username, "password": "wrong-password-123"}, OFFICER.username, "refused", "bad_credentials"),
            ({"username": "no.such.operator", "password": "whatever-it-is"}, None, "refused", "bad_credentials"),
            ({"username": OFFICER.username, "password": OFFICER.password}, OFFICER.username, "ok", None),
        ]
        for body, operator, outcome, reason in attempts:
            headers = with_id()
            http.post("/auth/sign-in", json=body, headers=headers)
            row = audit_row(postgres, headers["X-Request-ID"])
            assert (row["operator"], row["action"], row["outcome"], row["reason"]) == (operator, "sign_in", outcome, reason)
        headers = with_id()
        assert http.post("/auth/sign-out", headers=headers).status_code == 204
        row = audit_row(postgres, headers["X-Request-ID"])
        assert (row["operator"], row["action"], row["outcome"]) == (OFFICER.username, "sign_out", "ok")


def test_the_client_address_is_the_one_the_proxy_saw(officer: httpx.Client, postgres: ThrowawayPostgres) -> None:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 (its FORWARDED_ALLOW_IPS default): the last hop is
    # what Apache appended, an earlier one is whatever the client claimed.
    headers = {**with_id(), "X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
    officer.get("/flights/AA123", headers=headers)
    assert audit_row(postgres, headers["X-Request-ID"])["client_address"] == "203.0.113.9"


def test_a_request_without_a_usable_id_gets_one(officer: httpx.Client, postgres: ThrowawayPostgres) -> None:
    before = int(postgres.psql("SELECT coalesce(max(id), 0) FROM audit_log"))
    officer.get("/flights/AA123", headers={"X-Request-ID": "bad id; DROP"})
    rows = postgres.psql(f"SELECT request_id FROM audit_log WHERE id > {before} AND operator = '{OFFICER.username}' "
                         "AND action = 'flight_check'").splitlines()
    assert rows and all(len(row) == 32 and row.isalnum() for row in rows)


class TestReadingTheTrail:
    def test_an_officer_may_not_read_it(self, officer: httpx.Client) -> None:
        response = officer.get("/audit")
        assert (response.status_code, response.json()["reason"]) == (403, "forbidden")

    def test_pages_newest_first_filtered_by_operator_and_action(self, client: httpx.Client, officer: httpx.Client) -> None:
        for dni in ("00000011", "00000012", "00000013"):
            officer.get(f"/dni/{dni}")
        page = client.get("/audit", params={"operator": OFFICER.username, "action": "document_check", "limit": 2}).json()
        assert [item["subject"] for item in page["items"]] == ["00000013", "00000012"]
        assert all(item["operator"] == OFFICER.username for item in page["items"])
        following = client.get("/audit", params={"operator": OFFICER.username, "action": "document_check", "limit": 2,
                                                 "before_id": page["next_before_id"]}).json()
        assert following["items"][0]["subject"] == "00000011"
        assert following["items"][0]["id"] < page["items"][-1]["id"]

    def test_filters_by_time(self, client: httpx.Client, officer: httpx.Client) -> None:
        officer.get("/dni/00000021")
        now = datetime.now(timezone.utc)
        recent = client.get("/audit", params={"since": (now - timedelta(minutes=10)).isoformat(),
                                              "action": "document_check", "operator": OFFICER.username}).json()
        assert "00000021" in [item["subject"] for item in recent["items"]]
        old = client.get("/audit", params={"until": (now - timedelta(days=3650)).isoformat()}).json()
        assert old == {"items": [], "next_before_id": None}

    @pytest.mark.parametrize("params", [{"action": "delete_everything"}, {"since": "yesterday"}, {"until": "0.5"},
                                        {"since": "2026-11-29"}, {"since": "2026-11-29T08:00:00"}, {"limit": 0},
                                        {"limit": 101}, {"before_id": "1.5"}])
    def test_bad_filters_are_a_clear_422(self, client: httpx.Client, params: dict[str, object]) -> None:
        response = client.get("/audit", params=params)
        assert (response.status_code, response.json()["reason"]) == (422, "invalid_input")


def test_no_password_hash_or_session_token_in_logs_metrics_or_the_audit_trail(
    api: ApiServer, postgres: ThrowawayPostgres
) -> None:
    wrong = "Wrong-" + uuid.uuid4().hex
    with httpx.Client(base_url=api.url, timeout=10) as http:
        http.post("/auth/sign-in", json={"username": OFFICER.username, "password": wrong})
        http.post("/auth/sign-in", json={"username": wrong, "password": wrong})
        token = operators.sign_in(http, OFFICER)
        http.get("/dni/12345678A")
        http.post("/auth/sign-out")
    password_hash = postgres.psql(f"SELECT password_hash FROM operators WHERE username = '{OFFICER.username}'")
    secrets = {
        "the right password": OFFICER.password,
        "a wrong password": wrong,
        "the password hash": password_hash.split("$")[-1],
        "the session token": token,
        "the token's SHA-256": hashlib.sha256(token.encode()).hexdigest(),
    }
    places = {
        "the API's log": api.log(),
        "/metrics": httpx.get(api.url + "/metrics", timeout=10).text,
        "the audit trail": postgres.psql("SELECT string_agg(a::text, E'\\n') FROM audit_log a"),
    }
    for place, text in places.items():
        for secret, value in secrets.items():
            assert value not in text, f"{secret} found in {place}"
    assert OFFICER.username not in places["/metrics"]  # counted by outcome, never by name


def test_the_api_cannot_change_or_erase_the_audit_trail(postgres: ThrowawayPostgres, officer: httpx.Client) -> None:
    """Connected AS the API's own role (immigration_api), every way of changing audit rows fails."""
    officer.get("/flights/AA123")
    for statement in (
        "UPDATE audit_log SET outcome = 'ok'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TABLE audit_log",
        "CREATE FUNCTION x() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'",
    ):
        with pytest.raises(Exception) as refused:
            postgres.psql(statement, user=postgres.api_user)
        assert "permission denied" in str(getattr(refused.value, "stderr", "")) or "must be owner" in str(
            getattr(refused.value, "stderr", "")), statement
    # ...while appending and reading, which the API needs, work as that role.
    assert postgres.psql("SELECT count(*) > 0 FROM audit_log", user=postgres.api_user) == "t"


def test_a_session_cookie_from_another_request_is_never_in_the_trail(client: httpx.Client, postgres: ThrowawayPostgres) -> None:
    token = client.cookies[COOKIE]
    client.get("/audit")
    assert token not in postgres.psql("SELECT string_agg(a::text, ' ') FROM audit_log a")
