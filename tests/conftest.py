"""Fixtures shared by every test: a real PostgreSQL and the real API in front of it, with operators."""

from collections.abc import Iterator

import httpx
import pytest

from tests.support import operators
from tests.support.api_server import ApiServer
from tests.support.postgres import ThrowawayPostgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """One PostgreSQL for the session, loaded from postgres/init.sql."""
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def api(postgres: ThrowawayPostgres) -> Iterator[ApiServer]:
    """The API as in production: entrypoint, two workers, multiprocess metrics; a supervisor and an
    officer account exist (tests.support.operators)."""
    with ApiServer(postgres.api_env(), workers=2, **operators.LENIENT_SIGN_IN) as server:
        operators.ensure(server.env, operators.SUPERVISOR)
        operators.ensure(server.env, operators.OFFICER)
        yield server


@pytest.fixture(scope="session")
def supervisor_token(api: ApiServer) -> str:
    """One supervisor session for the whole test session (signing in costs an argon2 hash)."""
    with httpx.Client(base_url=api.url, timeout=10) as http:
        return operators.sign_in(http, operators.SUPERVISOR)


@pytest.fixture(scope="session")
def officer_token(api: ApiServer) -> str:
    """One officer session for the whole test session."""
    with httpx.Client(base_url=api.url, timeout=10) as http:
        return operators.sign_in(http, operators.OFFICER)


@pytest.fixture
def client(api: ApiServer, supervisor_token: str) -> Iterator[httpx.Client]:
    """An HTTP client of the session's API, signed in as a supervisor (who may call every route)."""
    with httpx.Client(base_url=api.url, timeout=10, cookies={operators.COOKIE: supervisor_token}) as http:
        yield http


@pytest.fixture
def officer(api: ApiServer, officer_token: str) -> Iterator[httpx.Client]:
    """An HTTP client of the session's API, signed in as an officer."""
    with httpx.Client(base_url=api.url, timeout=10, cookies={operators.COOKIE: officer_token}) as http:
        yield http


@pytest.fixture
def anonymous(api: ApiServer) -> Iterator[httpx.Client]:
    """An HTTP client of the session's API that has not signed in."""
    with httpx.Client(base_url=api.url, timeout=10) as http:
        yield http
