"""Concurrent registrations: nothing lost, nothing doubled."""

import asyncio

import httpx

from tests.support import operators
from tests.support.api_server import ApiServer
from tests.support.data import traveller
from tests.support.postgres import ThrowawayPostgres


async def _post_all(url: str, entries: list[dict[str, object]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(entries))
    cookies = operators.session_cookies(url)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits, cookies=cookies) as http:
        return await asyncio.gather(*(http.post("/immigration", json=entry) for entry in entries))


def test_200_concurrent_travellers_make_200_rows(api: ApiServer, postgres: ThrowawayPostgres, client: httpx.Client) -> None:
    entries = [traveller() for _ in range(200)]
    responses = asyncio.run(_post_all(api.url, entries))
    assert [r.status_code for r in responses] == [201] * 200, {r.status_code for r in responses}
    dnis = ", ".join(f"'{entry['dni']}'" for entry in entries)
    assert postgres.psql(f"SELECT count(*) FROM immigration WHERE dni IN ({dnis})") == "200"
    for response in responses:
        assert client.get(f"/immigration/{response.json()['id']}").json() == response.json()


def test_one_traveller_16_times_at_once_is_one_201_and_15_409(api: ApiServer, postgres: ThrowawayPostgres) -> None:
    entry = traveller()
    responses = asyncio.run(_post_all(api.url, [entry] * 16))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 15
    assert postgres.psql(f"SELECT count(*) FROM immigration WHERE dni = '{entry['dni']}'") == "1"
