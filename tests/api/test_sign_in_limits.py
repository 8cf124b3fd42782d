"""Repeated failed sign-ins slow down, then lock the account name and the client address (issue 12).

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

LIMITS = {"SIGN_IN_SLOWDOWN_AFTER": "2", "SIGN_IN_LOCKOUT_AFTER": "4", "SIGN_IN_LOCKOUT_S": "3600",
          "SIGN_IN_WINDOW_S": "3600"}


@pytest.fixture(scope="module")
def strict_api(postgres: ThrowawayPostgres) -> Iterator[ApiServer]:
    """An API that slows a name or address down from the 2nd failure and locks it for an hour at the 4th."""
    with ApiServer(postgres.api_env(), workers=2, **LIMITS) as server:
        yield server


@pytest.fixture
def account(strict_api: ApiServer) -> Account:
    """A fresh officer account."""
    made = Account("limits." + uuid.uuid4().hex[:10], "limits-test-password", "officer")
    operators.ensure(strict_api.env, made)
    return made


def address() -> str:
    """A client address no other test uses (TEST-NET-3, RFC 5737, plus a random last part)."""
    return f"203.0.{uuid.uuid4().int % 250 + 1}.{uuid.uuid4().int % 250 + 1}"


def attempt(api: ApiServer, username: str, password: str, client: str) -> httpx.Response:
    return httpx.post(api.url + "/auth/sign-in", json={"username": username, "password": password},
                      headers={"X-Forwarded-For": client}, timeout=10)


def bar_s(postgres: ThrowawayPostgres, scope: str, key: str) -> str:
    """How long a name or address is barred after its last failure, in s ("" if not barred), and its count."""
    return postgres.psql(
        "SELECT failures || ' ' || coalesce(extract(epoch FROM locked_until - last_failed_at)::int::text, '-') "
        f"FROM sign_in_attempts WHERE scope = '{scope}' AND key = '{key}'")


def release(postgres: ThrowawayPostgres, scope: str, key: str) -> None:
    """Let a bar run out, as time would."""
    postgres.psql(f"UPDATE sign_in_attempts SET locked_until = now() - interval '1 second' "
                  f"WHERE scope = '{scope}' AND key = '{key}'")


def test_an_account_slows_down_then_locks_then_is_released(
    strict_api: ApiServer, postgres: ThrowawayPostgres, account: Account
) -> None:
    before = scrape(strict_api.url)
    name = account.username
    # Each failure from a new address: only the account's count grows.
    expected = ["1 -", "2 1", "3 2", "4 3600"]  # failures, then the bar: 2^0 s, 2^1 s, the lockout
    for count, bar in enumerate(expected, start=1):
        response = attempt(strict_api, name, "wrong-password-1", address())
        assert (response.status_code, response.json()["reason"]) == (401, "bad_credentials"), count
        assert bar_s(postgres, "account", name) == bar, count
        if count < len(expected):
            release(postgres, "account", name)
    # Locked: even the right password, from anywhere, is refused without being checked.
    for client in (address(), address()):
        response = attempt(strict_api, name, account.password, client)
        assert response.status_code == 429
        assert response.json() == {"detail": "Too many failed sign-ins: wait, then try again.", "reason": "locked_out"}
        assert 3500 < int(response.headers["retry-after"]) <= 3600
    assert bar_s(postgres, "account", name) == "4 3600"  # a refusal while locked counts nothing more
    release(postgres, "account", name)
    assert attempt(strict_api, name, account.password, address()).status_code == 200
    assert bar_s(postgres, "account", name) == ""  # a success forgets the account's failures
    after = scrape(strict_api.url)
    for outcome, delta in (("bad_credentials", 4), ("locked_out", 2), ("success", 1)):
        counted = sample(after, "immigration_sign_ins_total", outcome=outcome) - sample(
            before, "immigration_sign_ins_total", outcome=outcome)
        assert counted == delta, outcome


def test_an_address_that_tries_many_names_is_locked_whatever_name_it_tries(
    strict_api: ApiServer, postgres: ThrowawayPostgres, account: Account
) -> None:
    client = address()
    for count in range(1, 5):
        response = attempt(strict_api, f"guess.{uuid.uuid4().hex[:8]}", "wrong-password-1", client)
        assert response.status_code == 401, count
        if count < 4:
            release(postgres, "address", client)
    assert bar_s(postgres, "address", client) == "4 3600"
    assert attempt(strict_api, account.username, account.password, client).status_code == 429
    # The account itself is not barred: from another address, its right password works.
    assert attempt(strict_api, account.username, account.password, address()).status_code == 200
    release(postgres, "address", client)
    assert attempt(strict_api, account.username, account.password, client).status_code == 200


def test_failures_older_than_the_window_count_again_from_one(
    strict_api: ApiServer, postgres: ThrowawayPostgres, account: Account
) -> None:
    for _ in range(3):
        attempt(strict_api, account.username, "wrong-password-1", address())
        release(postgres, "account", account.username)
    postgres.psql("UPDATE sign_in_attempts SET last_failed_at = now() - interval '2 hours' "
                  f"WHERE scope = 'account' AND key = '{account.username}'")
    assert attempt(strict_api, account.username, "wrong-password-1", address()).status_code == 401
    assert bar_s(postgres, "account", account.username) == "1 -"


def test_a_disabled_account_fails_like_a_wrong_password_and_counts(
    strict_api: ApiServer, postgres: ThrowawayPostgres, account: Account
) -> None:
    operators.operators_cli(strict_api.env, "disable", account.username)
    response = attempt(strict_api, account.username, account.password, address())
    assert (response.status_code, response.json()["reason"]) == (401, "bad_credentials")
    assert bar_s(postgres, "account", account.username) == "1 -"


def test_every_sign_in_outcome_is_a_series_from_the_start(postgres: ThrowawayPostgres) -> None:
    with ApiServer(postgres.api_env(), workers=1) as fresh:
        text = httpx.get(fresh.url + "/metrics", timeout=10).text
    for outcome in ("success", "bad_credentials", "locked_out"):
        assert f'immigration_sign_ins_total{{outcome="{outcome}"}} 0.0' in text, outcome
