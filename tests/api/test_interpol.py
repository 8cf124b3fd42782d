"""GET /dni/{dni}: is a document on the Interpol list?"""

import httpx
import pytest


def test_a_listed_document_returns_its_listing(client: httpx.Client) -> None:
    response = client.get("/dni/12345678A")
    assert response.status_code == 200
    body = response.json()
    assert body["dni"] == "12345678A"
    assert body["notice"] == "red"
    assert set(body) == {"dni", "name", "nationality", "notice", "listed_on"}


@pytest.mark.parametrize("typed", ["12345678a", "1234-5678A", " 12345678A ", "12.345.678A"])
def test_a_document_is_found_however_it_was_typed(client: httpx.Client, typed: str) -> None:
    response = client.get(f"/dni/{typed}")
    assert response.status_code == 200
    assert response.json()["dni"] == "12345678A"


def test_a_clean_document_is_404_not_listed(client: httpx.Client) -> None:
    response = client.get("/dni/11111111Z")
    assert response.status_code == 404
    assert response.json()["reason"] == "not_listed"


def test_a_malformed_document_is_422(client: httpx.Client) -> None:
    response = client.get("/dni/AB")
    assert response.status_code == 422
    assert response.json()["reason"] == "invalid_input"
    assert "5 to 20 letters or digits" in response.json()["detail"]
