"""Malformed and hostile input gets a 4xx JSON error a person can act on: never a 500, never a trace."""

import json

import httpx
import pytest

from tests.support.data import traveller

HUGE = "A" * 10_000  # under the body limit, so the field itself is refused


def assert_clear_4xx(response: httpx.Response) -> dict[str, object]:
    """A 4xx whose JSON body names the problem and carries no trace or echo of huge input."""
    assert 400 <= response.status_code < 500, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["reason"], str)
    assert "Traceback" not in response.text
    assert len(response.content) < 5_000
    return body


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": 42},
        {"name": None},
        {"name": ""},
        {"name": "Ada\x00Lovelace"},
        {"name": HUGE},
        {"lodging": HUGE},
        {"lodging": "Hotel\x00"},
        {"dni": HUGE},
        {"dni": "1234\x005678"},
        {"dni": ["12345678A"]},
        {"flight_number": HUGE},
        {"flight_number": "AA\x00123"},
        {"declared_money": -1},
        {"declared_money": "-0.01"},
        {"declared_money": 10**30},
        {"declared_money": "1e400"},
        {"declared_money": "500.001"},
        {"declared_money": "NaN"},
        {"declared_money": "Infinity"},
        {"declared_money": True},
        {"declared_money": "five hundred"},
        {"declared_money": {"amount": 500}},
        {"unknown_field": 1},
    ],
    ids=lambda overrides: "-".join(f"{k}={str(v)[:12]!r}" for k, v in overrides.items()),
)
def test_a_bad_field_is_a_clear_422(client: httpx.Client, overrides: dict[str, object]) -> None:
    body = assert_clear_4xx(client.post("/immigration", json=traveller(**overrides)))
    assert body["reason"] == "invalid_input"
    field = next(iter(overrides))
    assert f"body.{field}" in {error["field"] for error in body["errors"]}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b"[]", b"null", b'"string"', b"{\"name\": NaN}", b"\xff\xfe\x00", b"{" * 10_000],
    ids=["empty", "truncated", "text", "array", "null", "string", "nan", "binary", "deep"],
)
def test_a_body_that_is_not_an_entry_is_a_clear_422(client: httpx.Client, raw: bytes) -> None:
    response = client.post("/immigration", content=raw, headers={"content-type": "application/json"})
    assert assert_clear_4xx(response)["reason"] == "invalid_input"


def test_invalid_json_is_named_as_such(client: httpx.Client) -> None:
    response = client.post("/immigration", content=b'{"name": ', headers={"content-type": "application/json"})
    assert assert_clear_4xx(response)["errors"] == [{"field": "body", "message": "the body is not valid JSON"}]


def test_nan_in_json_is_refused(client: httpx.Client) -> None:
    raw = json.dumps(traveller()).replace('"1500.00"', "NaN").encode()
    body = assert_clear_4xx(client.post("/immigration", content=raw, headers={"content-type": "application/json"}))
    assert body["errors"] == [{"field": "body.declared_money", "message": "Input should be a finite number"}]


@pytest.mark.parametrize(
    "path",
    [
        "/immigration/2147483648",
        "/immigration/99999999999999999999999",
        "/immigration/-1",
        "/immigration/0",
        "/immigration/abc",
        "/immigration/1.5",
        "/dni/" + "A" * 5_000,
        "/dni/%00%00%00%00%00",
        "/dni/12345678A%00",
        "/flights/%00AA123",
        "/immigration?dni=%00ABCDE",
        "/immigration?limit=99999999999999999999",
        "/immigration?before_id=-5",
    ],
)
def test_a_bad_path_or_query_is_a_clear_422(client: httpx.Client, path: str) -> None:
    assert assert_clear_4xx(client.get(path))["reason"] == "invalid_input"


def test_an_unknown_path_is_a_json_404(client: httpx.Client) -> None:
    assert assert_clear_4xx(client.get("/nope"))["reason"] == "not_found"


def test_a_wrong_method_is_a_json_405(client: httpx.Client) -> None:
    assert assert_clear_4xx(client.delete("/immigration"))["reason"] == "method_not_allowed"


def test_refusals_never_echo_personal_data(client: httpx.Client) -> None:
    entry = traveller(name="Zebulon Quixote", declared_money="1")
    response = client.post("/immigration", json=entry)
    assert "Zebulon" not in response.text and str(entry["dni"]) not in response.text


@pytest.mark.parametrize("size", [100_000, 5_000_000])
def test_a_huge_body_is_refused_before_it_is_read(client: httpx.Client, size: int) -> None:
    raw = b'{"name": "' + b"A" * size + b'"}'
    body = assert_clear_4xx(client.post("/immigration", content=raw, headers={"content-type": "application/json"}))
    assert body["reason"] == "body_too_large"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"dni": "ßßßßßßß"}, "dni"),  # "ß".upper() is "SS": would pass as SSSSSSSSSSSSSS
        ({"dni": "１２３４５６７８Ａ"}, "dni"),  # fullwidth digits
        ({"flight_number": "ＡＡ123"}, "flight_number"),
        ({"name": "\u200b"}, "name"),  # only a zero-width space
        ({"name": "Ada\u202eLovelace"}, "name"),  # a bidi override
        ({"name": "a\x85b"}, "name"),  # a C1 control
        ({"name": "12345"}, "name"),
        ({"lodging": "Hotel\u200b"}, "lodging"),
    ],
)
def test_lookalike_and_invisible_characters_are_refused(
    client: httpx.Client, overrides: dict[str, object], field: str
) -> None:
    body = assert_clear_4xx(client.post("/immigration", json=traveller(**overrides)))
    assert f"body.{field}" in {error["field"] for error in body["errors"]}  # type: ignore[attr-defined]


def test_lodging_without_a_letter_or_digit_is_no_lodging(client: httpx.Client) -> None:
    response = client.post("/immigration", json=traveller(lodging="-- . --"))
    assert (response.status_code, response.json()["reason"]) == (422, "lodging_missing")
