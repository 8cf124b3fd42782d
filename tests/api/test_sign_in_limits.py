"""Repeated failed sign-ins slow down, then lock a name from an address; far more lock a name from
everywhere or an address for every name (issue 12; api/app/auth.py SCOPES).

Time is the server's: instead of waiting, the tests read when PostgreSQL bars a name or an address
until, and end a bar by moving `locked_until` into the past. Addresses are set per test with
X-Forwarded-For, which uvicorn trusts from 127.0.0.1 (FORWARDED_ALLOW_IPS' default), as from Apache.
"""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.api.test_metrics import sample, scrape
from tests.support import operators
from tests.support.api_server import ApiServer
from tests.support.operators import Account
from tests.support.postgres import ThrowawayPostgres

LIMITS = {"SIGN_IN_SLOWDOWN_AFTER": "2", "SIGN_IN_LOCKOUT_AFTER": "4", "SIGN_IN_ACCOUNT_LOCKOUT_AFTER": "6",
          "SIGN_IN_ADDRESS_LOCKOUT_AFTER": "8", "SIGN_IN_LOCKOUT_S": "3600", "SIGN_IN_WINDOW_S": "3600"}


@pytest.fixture(scope="module")
def strict_api(postgres: ThrowawayPostgres) -> Iterator[ApiServer]:
    """An API that slows a name from one address down from the 2nd failure and locks it for an hour at
    the 4th; a name from every address at the 6th, an address for every name at the 8th."""
    with ApiServer(postgres.api_env(), workers=2, **LIMITS) as server:
        yield server


def new_account(api: ApiServer) -> Account:
    made = Account("limits." + uuid.uuid4().hex[:10], "limits-test-password", "officer")
    operators.ensure(api.env, made)
    return made


@pytest.fixture
def account(strict_api: ApiServer) -> Account:
    """A fresh officer account."""
    return new_account(strict_api)


def address() -> str:
    """A client address no other test uses (TEST-NET-3, RFC 5737, plus a random last part)."""
    return f"203.0.{uuid.uuid4().int % 250 + 1}.{uuid.uuid4().int % 250 + 1}"


def attempt(api: ApiServer, username: str, password: str, client: str) -> httpx.Response:
    return httpx.post(api.url + "/auth/sign-in", json={"username": username, "password": password},
                      headers={"X-Forwarded-For": client}, timeout=10)


def bar_s(postgres: ThrowawayPostgres, scope: str, key: str) -> str:
    """A count's failures and how long it is barred after its last failure, in s ("-": not barred;
    "": no count). Keys: client "ADDRESS NAME", account NAME, address ADDRESS."""
    return postgres.psql(
        "SELECT failures || ' ' || coalesce(extract(epoch FROM locked_until - last_failed_at)::int::text, '-') "
        f"FROM sign_in_attempts WHERE scope = '{scope}' AND key = '{key}'")


def release(postgres: ThrowawayPostgres, scope: str, key: str) -> None:
    """Let a bar run out, as time would."""
    postgres.psql(f"UPDATE sign_in_attempts SET locked_until = now() - interval '1 second' "
                  f"WHERE scope = '{scope}' AND key = '{key}'")


def assert_locked_out(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {"detail": "Too many failed sign-ins: wait, then try again.", "reason": "locked_out"}
    assert 3500 < int(response.headers["retry-after"]) <= 3600


def test_a_name_from_one_address_slows_down_then_locks_then_is_released(
    strict_api: ApiServer, postgres: ThrowawayPostgres, account: Account
) -> None:
    before = scrape(strict_api.url)
    name, office = account.username, address()
    client = f"{office} {name}"
    expected = ["1 -", "2 1", "3 2", "4 3600"]  # failures, then the bar: 2^0 s, 2^1 s, the lockout
    for count, bar in enumerate(expected, start=1):
        response = attempt(strict_api, name, "wrong-password-1", office)
        assert (response.status_code, response.json()["reason"]) == (401, "bad_credentials"), count
        assert bar_s(postgres, "client", client) == bar, count
        if count < len(expected):
            release(postgres, "client", client)
    # Locked: even the right password, from that address, is refused without being checked...
    for _ in range(2):
        assert_locked_out(attempt(strict_api, name, account.password, office))
    assert bar_s(postgres, "client", client) == "4 3600"  # a refusal while locked counts nothing more
    # ... and the wider counts are far from their thresholds.
    assert bar_s(postgres, "account", name) == "4 -"
    assert bar_s(postgres, "address", office) == "4 -"
    release(postgres, "client", client)
    assert attempt(strict_api, name, account.password, office).status_code == 200
    assert bar_s(postgres, "client", client) == ""  # a success forgets this name's failures from here
    assert bar_s(postgres, "account", name) == "4 -"  # not the wider ones: only their window does
    after = scrape(strict_api.url)
    for outcome, delta in (("bad_credentials", 4), ("locked_out", 2), ("success", 1)):
        counted = sample(after, "immigration_sign_ins_total", outcome=outcome) - sample(
            before, "immigration_sign_ins_total", outcome=outcome)
        assert counted == delta, outcome


def test_one_operators_lockout_leaves_the_others_behind_the_same_address_signing_in(
    strict_api: ApiServer, postgres: ThrowawayPostgres, account: Account
) -> None:
    """An office behind one NAT address: one operator mistyping until locked out bars nobody else,
    nor that operator at another desk (another address)."""
    office = address()
    for count in range(1, int(LIMITS["SIGN_IN_LOCKOUT_AFTER"]) + 1):
        assert attempt(strict_api, account.username, "wrong-password-1", office).status_code == 401, count
        if count < int(LIMITS["SIGN_IN_LOCKOUT_AFTER"]):
            release(postgres, "client", f"{office} {account.username}")  # the slow-down's waits, passed
    assert_locked_out(attempt(strict_api, account.username, account.password, office))
    colleague = new_account(strict_api)
    assert attempt(strict_api, colleague.username, colleague.password, office).status_code == 200
    assert attempt(strict_api, account.username, account.password, address()).status_code == 200


def test_a_name_tried_from_many_addresses_is_locked_from_everywhere(
    strict_api: ApiServer, postgres: ThrowawayPostgres, account: Account
) -> None:
    for count in range(1, int(LIMITS["SIGN_IN_ACCOUNT_LOCKOUT_AFTER"]) + 1):
        assert attempt(strict_api, account.username, "wrong-password-1", address()).status_code == 401, count
    assert bar_s(postgres, "account", account.username) == "6 3600"
    assert_locked_out(attempt(strict_api, account.username, account.password, address()))
    release(postgres, "account", account.username)
    assert attempt(strict_api, account.username, account.password, address()).status_code == 200


def test_an_address_that_sprays_many_names_is_locked_whatever_name_it_tries(
    strict_api: ApiServer, postgres: ThrowawayPostgres, account: Account
) -> None:
    sprayer = address()
    for count in range(1, int(LIMITS["SIGN_IN_ADDRESS_LOCKOUT_AFTER"]) + 1):
        response = attempt(strict_api, f"guess.{uuid.uuid4().hex[:8]}", "wrong-password-1", sprayer)
        assert response.status_code == 401, count
    assert bar_s(postgres, "address", sprayer) == "8 3600"
    assert_locked_out(attempt(strict_api, account.username, account.password, sprayer))
    # The account itself is not barred: from another address, its right password works.
    assert attempt(strict_api, account.username, account.password, address()).status_code == 200
    release(postgres, "address", sprayer)
    assert attempt(strict_api, account.username, account.password, sprayer).status_code == 200


def test_failures_older_than_the_window_count_again_from_one(
    strict_api: ApiServer, postgres: ThrowawayPostgres, account: Account
) -> None:
    office = address()
    client = f"{office} {account.username}"
    for _ in range(3):
        attempt(strict_api, account.username, "wrong-password-1", office)
        release(postgres, "client", client)
    postgres.psql("UPDATE sign_in_attempts SET last_failed_at = now() - interval '2 hours' "
                  f"WHERE key IN ('{client}', '{account.username}', '{office}')")
    assert attempt(strict_api, account.username, "wrong-password-1", office).status_code == 401
    for scope, key in (("client", client), ("account", account.username), ("address", office)):
        assert bar_s(postgres, scope, key) == "1 -", scope


def test_a_disabled_account_fails_like_a_wrong_password_and_counts(
    strict_api: ApiServer, postgres: ThrowawayPostgres, account: Account
) -> None:
    operators.operators_cli(strict_api.env, "disable", account.username)
    office = address()
    response = attempt(strict_api, account.username, account.password, office)
    assert (response.status_code, response.json()["reason"]) == (401, "bad_credentials")
    assert bar_s(postgres, "client", f"{office} {account.username}") == "1 -"


def test_every_sign_in_outcome_is_a_series_from_the_start(postgres: ThrowawayPostgres) -> None:
    with ApiServer(postgres.api_env(), workers=1) as fresh:
        text = httpx.get(fresh.url + "/metrics", timeout=10).text
    for outcome in ("success", "bad_credentials", "locked_out"):
        assert f'immigration_sign_ins_total{{outcome="{outcome}"}} 0.0' in text, outcome
