"""Fixtures shared by every test: a real PostgreSQL and the real API in front of it."""

from collections.abc import Iterator

import httpx
import pytest

from tests.support.api_server import ApiServer
from tests.support.postgres import ThrowawayPostgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """One PostgreSQL for the session, loaded from postgres/init.sql."""
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def api(postgres: ThrowawayPostgres) -> Iterator[ApiServer]:
    """The API as in production: entrypoint, two workers, multiprocess metrics."""
    with ApiServer(postgres.api_env(), workers=2) as server:
        yield server


@pytest.fixture
def client(api: ApiServer) -> Iterator[httpx.Client]:
    """An HTTP client of the session's API."""
    with httpx.Client(base_url=api.url, timeout=10) as http:
        yield http

