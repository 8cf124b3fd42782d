"""Operator accounts for the tests, made with the real CLI (python -m app.operators), and signed-in clients."""

import functools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

API_DIR = Path(__file__).resolve().parents[2] / "api"
COOKIE = "promethoide_session"


@dataclass(frozen=True)
class Account:
    """An operator account the tests sign in with."""

    username: str
    password: str
    role: str


SUPERVISOR = Account("supervisor.test", "supervisor-test-password", "supervisor")
OFFICER = Account("officer.test", "officer-test-password", "officer")
BENCH = Account("bench.operator", "bench-operator-password", "supervisor")  # tests/benchmarks

# The shared API's sign-in limits: failures are forgotten after a second, so that Schemathesis' fuzzed
# sign-ins (all from 127.0.0.1) never bar the address the other tests sign in from. The limits
# themselves are tested on servers of their own (tests/api/test_auth.py).
LENIENT_SIGN_IN = {"SIGN_IN_WINDOW_S": "1", "SIGN_IN_SLOWDOWN_AFTER": "100", "SIGN_IN_LOCKOUT_AFTER": "1000",
                   "SIGN_IN_ACCOUNT_LOCKOUT_AFTER": "100000", "SIGN_IN_ADDRESS_LOCKOUT_AFTER": "100000"}


def operators_cli(env: dict[str, str], *args: str, input: str | None = None, check: bool = True,
                  extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m app.operators ARGS` as the container would: in api/, with the API's environment."""
    return subprocess.run(
        [sys.executable, "-m", "app.operators", *args], cwd=API_DIR, env={**env, **(extra_env or {})},
        capture_output=True, text=True, input=input, check=check, timeout=60,
    )


def ensure(env: dict[str, str], account: Account) -> None:
    """Create (or reset) an account through the CLI's `ensure`."""
    operators_cli(env, "ensure", account.username, "--password-env", "TEST_OPERATOR_PASSWORD", "--role", account.role,
                  extra_env={"TEST_OPERATOR_PASSWORD": account.password})


def sign_in(http: httpx.Client, account: Account) -> str:
    """Sign `http` in as `account`; the session token (the cookie's value)."""
    response = http.post("/auth/sign-in", json={"username": account.username, "password": account.password})
    assert response.status_code == 200, response.text
    return response.cookies[COOKIE]


@functools.cache
def session_cookies(url: str, account: Account = SUPERVISOR) -> dict[str, str]:
    """Cookies of one session of `account` on the API at `url`, signed in once per test run and reused:
    for module-level calls such as `httpx.get(url, cookies=session_cookies(url))`."""
    with httpx.Client(base_url=url, timeout=10) as http:
        return {COOKIE: sign_in(http, account)}


class SignedInClient(httpx.Client):
    """An httpx client already used (to sign in) that still works as `with client as http:`."""

    def __enter__(self) -> "SignedInClient":
        return self


def signed_in_client(url: str, account: Account) -> httpx.Client:
    """A new client of the API at `url`, signed in as `account` (close it, or use it in a `with`)."""
    http = SignedInClient(base_url=url, timeout=10)
    sign_in(http, account)
    return http
