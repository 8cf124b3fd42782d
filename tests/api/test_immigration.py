"""POST /immigration, its dry run, and reading entries back."""

from decimal import Decimal

import httpx
import pytest

from tests.support.data import fresh_dni, traveller
from tests.support.postgres import ThrowawayPostgres


def test_a_valid_entry_is_registered_and_stored(client: httpx.Client, postgres: ThrowawayPostgres) -> None:
    entry = traveller(dni="x-123 4567" + fresh_dni()[-4:], flight_number="aa 0123", name="  Ada  ")
    response = client.post("/immigration", json=entry)
    assert response.status_code == 201
    body = response.json()
    assert body["dni"] == str(entry["dni"]).replace("-", "").replace(" ", "").upper()
    assert body["flight_number"] == "AA123"
    assert body["name"] == "Ada"
    assert Decimal(body["declared_money"]) == Decimal("1500.00")
    stored = postgres.psql(f"SELECT dni, flight_number, declared_money FROM immigration WHERE id = {body['id']}")
    assert stored == f"{body['dni']}|AA123|1500.00"


def test_a_registered_entry_can_be_read_by_id(client: httpx.Client) -> None:
    created = client.post("/immigration", json=traveller()).json()
    response = client.get(f"/immigration/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


def test_an_unknown_id_is_404(client: httpx.Client) -> None:
    response = client.get("/immigration/2147483647")
    assert response.status_code == 404
    assert response.json()["reason"] == "not_found"


def test_the_same_traveller_twice_is_409(client: httpx.Client) -> None:
    entry = traveller()
    assert client.post("/immigration", json=entry).status_code == 201
    response = client.post("/immigration", json=entry)
    assert response.status_code == 409
    assert response.json()["reason"] == "already_registered"


@pytest.mark.parametrize(
    ("overrides", "status", "reason"),
    [
        ({"dni": "12345678A"}, 403, "interpol_hit"),
        ({"dni": "8765-4321-b"}, 403, "interpol_hit"),
        ({"flight_number": "ZZ9999"}, 422, "unknown_flight"),
        ({"lodging": ""}, 422, "lodging_missing"),
        ({"lodging": "   "}, 422, "lodging_missing"),
        ({"declared_money": "499.99"}, 422, "insufficient_funds"),
        ({"declared_money": 0}, 422, "insufficient_funds"),
    ],
)
def test_a_refused_entry_says_why_and_writes_nothing(
    client: httpx.Client, postgres: ThrowawayPostgres, overrides: dict[str, object], status: int, reason: str
) -> None:
    entry = traveller(**overrides)
    before = postgres.psql("SELECT count(*) FROM immigration")
    response = client.post("/immigration", json=entry)
    assert response.status_code == status
    assert response.json()["reason"] == reason
    assert response.json()["detail"].startswith("Entry refused")
    assert postgres.psql("SELECT count(*) FROM immigration") == before


def test_a_missing_lodging_field_is_refused_for_lodging(client: httpx.Client) -> None:
    entry = traveller()
    del entry["lodging"]
    response = client.post("/immigration", json=entry)
    assert (response.status_code, response.json()["reason"]) == (422, "lodging_missing")


def test_the_money_minimum_is_inclusive(client: httpx.Client) -> None:
    assert client.post("/immigration", json=traveller(declared_money="500.00")).status_code == 201


def test_the_interpol_check_outranks_other_refusals(client: httpx.Client) -> None:
    response = client.post("/immigration", json=traveller(dni="12345678A", declared_money="1", lodging=""))
    assert response.json()["reason"] == "interpol_hit"


def test_there_is_no_flag_that_skips_the_checks(client: httpx.Client) -> None:
    response = client.post("/immigration", json=traveller(dni="12345678A", smoke=True))
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "body.smoke", "message": "Extra inputs are not permitted"}]


class TestDryRun:
    def test_a_passing_dry_run_is_200_and_writes_nothing(self, client: httpx.Client, postgres: ThrowawayPostgres) -> None:
        entry = traveller(declared_money="750.5")
        response = client.post("/immigration", params={"dry_run": "true"}, json=entry)
        assert response.status_code == 200
        body = response.json()
        assert body["accepted"] is True and body["dry_run"] is True
        assert body["entry"]["declared_money"] == "750.50"
        assert postgres.psql(f"SELECT count(*) FROM immigration WHERE dni = '{entry['dni']}'") == "0"

    @pytest.mark.parametrize(
        ("overrides", "status", "reason"),
        [
            ({"dni": "12345678A"}, 403, "interpol_hit"),
            ({"flight_number": "ZZ9999"}, 422, "unknown_flight"),
            ({"lodging": ""}, 422, "lodging_missing"),
            ({"declared_money": "10"}, 422, "insufficient_funds"),
        ],
    )
    def test_a_dry_run_gives_the_same_verdict(
        self, client: httpx.Client, overrides: dict[str, object], status: int, reason: str
    ) -> None:
        entry = traveller(**overrides)
        dry = client.post("/immigration", params={"dry_run": "true"}, json=entry)
        real = client.post("/immigration", json=entry)
        assert (dry.status_code, dry.json()["reason"]) == (real.status_code, real.json()["reason"]) == (status, reason)

    def test_a_dry_run_of_a_registered_traveller_is_409(self, client: httpx.Client) -> None:
        entry = traveller()
        assert client.post("/immigration", json=entry).status_code == 201
        response = client.post("/immigration", params={"dry_run": "true"}, json=entry)
        assert (response.status_code, response.json()["reason"]) == (409, "already_registered")


class TestListing:
    def test_entries_are_paged_newest_first(self, client: httpx.Client) -> None:
        ids = [client.post("/immigration", json=traveller()).json()["id"] for _ in range(5)]
        first = client.get("/immigration", params={"limit": 3}).json()
        assert len(first["items"]) == 3
        assert [item["id"] for item in first["items"]] == sorted((item["id"] for item in first["items"]), reverse=True)
        assert first["items"][0]["id"] >= ids[-1]
        second = client.get("/immigration", params={"limit": 3, "before_id": first["next_before_id"]}).json()
        assert max(item["id"] for item in second["items"]) < first["next_before_id"]

    def test_entries_can_be_filtered_by_document(self, client: httpx.Client) -> None:
        entry = traveller()
        created = client.post("/immigration", json=entry).json()
        page = client.get("/immigration", params={"dni": str(entry["dni"]).lower()}).json()
        assert page == {"items": [created], "next_before_id": None}

    @pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"before_id": 0}, {"before_id": 2**31}])
    def test_page_bounds_are_enforced(self, client: httpx.Client, params: dict[str, int]) -> None:
        response = client.get("/immigration", params=params)
        assert response.status_code == 422
        assert response.json()["reason"] == "invalid_input"
