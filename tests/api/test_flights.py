"""GET /flights/{flight_number}."""

import httpx
import pytest


def test_a_known_flight_is_returned(client: httpx.Client) -> None:
    response = client.get("/flights/BA456")
    assert response.status_code == 200
    assert response.json() == {
        "flight_number": "BA456",
        "airline": "British Airways",
        "origin": "LHR",
        "destination": "EZE",
        "scheduled_arrival": "11:15",
    }


@pytest.mark.parametrize("typed", ["ba456", "BA 456", "BA0456", "ba-0456"])
def test_a_flight_number_is_normalised(client: httpx.Client, typed: str) -> None:
    response = client.get(f"/flights/{typed}")
    assert response.status_code == 200
    assert response.json()["flight_number"] == "BA456"


def test_an_unknown_flight_is_404(client: httpx.Client) -> None:
    response = client.get("/flights/ZZ9999")
    assert response.status_code == 404
    assert response.json()["reason"] == "unknown_flight"


@pytest.mark.parametrize("bad", ["A", "ABC123", "AA12345", "1234"])
def test_a_malformed_flight_number_is_422(client: httpx.Client, bad: str) -> None:
    response = client.get(f"/flights/{bad}")
    assert response.status_code == 422
    assert "IATA" in response.json()["detail"]
