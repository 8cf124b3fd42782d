"""Every number a client sends is judged exactly as written: no binary float in between.

Bodies: JSON numbers are read as decimals (api/app/json_body.py), so 499.999999999999999 is refused for
its decimals instead of being rounded to 500.0 and accepted. Paths and query strings: integers are
decimal digits, nothing else. Each case sends the number as raw JSON text (json.dumps would already
round it) and checks the status, the reason and the field named.
"""

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support import operators
from tests.support.api_server import ApiServer
from tests.support.data import traveller
from tests.support.postgres import ThrowawayPostgres

NOT_JSON = {"field": "body", "message": "the body is not valid JSON"}
DECIMALS = "Decimal input should have no more than 2 decimal places"
TOO_LARGE = "Input should be less than or equal to 9999999999.99"
NOT_FINITE = "Input should be a finite number"
NOT_DIGITS = "must be a whole number written in digits, such as 42"


@pytest.fixture(scope="module")
def free_entry_api(postgres: ThrowawayPostgres) -> Iterator[ApiServer]:
    """The API with no minimum amount, so that small and zero amounts are echoed, not refused."""
    with ApiServer(postgres.api_env(), workers=1, MINIMUM_DECLARED_MONEY="0") as server:
        operators.ensure(server.env, operators.SUPERVISOR)
        yield server


def post_raw(url: str, field: str, raw_number: str, *, dry_run: bool = True) -> httpx.Response:
    """POST an entry whose `field` is the JSON text `raw_number`, byte for byte."""
    placeholder = "__NUMBER__"
    body = json.dumps(traveller(**{field: placeholder})).replace(f'"{placeholder}"', raw_number)
    return httpx.post(
        url + "/immigration" + ("?dry_run=true" if dry_run else ""),
        content=body.encode(),
        headers={"content-type": "application/json"},
        cookies=operators.session_cookies(url),
        timeout=10,
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("499.999999999999999", DECIMALS),  # a float reads 500.0: it was accepted as 500.00
        ("500.0000000000000001", DECIMALS),  # a float reads 500.0
        ("500.001", DECIMALS),
        ('"499.999999999999999"', DECIMALS),  # the same as a string, as before
        ('"500.0000000000000001"', DECIMALS),
        ("1e-400", DECIMALS),  # a float reads 0.0
        ("4.9999999999999999999e2", DECIMALS),
        ("1e400", TOO_LARGE),  # a float reads inf
        ("10000000000", TOO_LARGE),  # beyond NUMERIC(12,2)
        ("9999999999.995", DECIMALS),
        ("NaN", NOT_FINITE),
        ("Infinity", NOT_FINITE),
        ("-Infinity", NOT_FINITE),
        ('"NaN"', NOT_FINITE),
    ],
)
def test_money_that_is_not_an_amount_in_cents_is_refused_by_name(api: ApiServer, raw: str, message: str) -> None:
    response = post_raw(api.url, "declared_money", raw)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["reason"] == "invalid_input"
    assert body["errors"] == [{"field": "body.declared_money", "message": message}]


@pytest.mark.parametrize(
    ("raw", "echoed"),
    [
        ("500", "500.00"),
        ("500.00", "500.00"),
        ("500.5", "500.50"),
        ("5e2", "500.00"),
        ("5E+2", "500.00"),
        ("50000e-2", "500.00"),
        ("1500.0000000000", "1500.00"),  # trailing zeros: exactly 1500
        ("9999999999.99", "9999999999.99"),
        ('"500.10"', "500.10"),
    ],
)
def test_money_is_taken_exactly_as_written(api: ApiServer, raw: str, echoed: str) -> None:
    response = post_raw(api.url, "declared_money", raw)
    assert response.status_code == 200, response.text
    assert response.json()["entry"]["declared_money"] == echoed


@pytest.mark.parametrize(("raw", "echoed"), [("-0", "0.00"), ("-0.0", "0.00"), ('"-0.00"', "0.00"), ("0.01", "0.01")])
def test_zero_has_no_sign(free_entry_api: ApiServer, raw: str, echoed: str) -> None:
    response = post_raw(free_entry_api.url, "declared_money", raw)
    assert response.status_code == 200, response.text
    assert response.json()["entry"]["declared_money"] == echoed


def test_a_number_that_is_just_below_the_minimum_is_refused_and_nothing_is_written(api: ApiServer) -> None:
    response = post_raw(api.url, "declared_money", "499.99", dry_run=False)
    assert response.status_code == 422
    assert response.json()["reason"] == "insufficient_funds"
    response = post_raw(api.url, "declared_money", "499.999999999999999", dry_run=False)
    assert response.json()["reason"] == "invalid_input"


@pytest.mark.parametrize(
    "raw",
    ["1e999999999", "1e-999999999", "1" + "0" * 5000, "0." + "0" * 5000 + "1"],
    ids=["huge-exponent", "tiny-exponent", "5000-digit-integer", "5000-digit-fraction"],
)
def test_numbers_beyond_any_field_are_refused_while_parsing(api: ApiServer, raw: str) -> None:
    # Answered at once: such a number never reaches a validator that could expand it to an integer.
    response = post_raw(api.url, "declared_money", raw)
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [NOT_JSON]


@pytest.mark.parametrize(
    ("field", "raw"),
    [("name", "42"), ("dni", "12345678"), ("dni", "1e400"), ("flight_number", "123.0"), ("lodging", "NaN")],
)
def test_a_number_where_text_belongs_is_refused_by_name(api: ApiServer, field: str, raw: str) -> None:
    response = post_raw(api.url, field, raw)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [f"body.{field}"]


def test_a_key_given_twice_is_refused(api: ApiServer) -> None:
    # Parsers disagree on which one wins (the first, the last): refuse rather than pick.
    body = json.dumps(traveller(declared_money="600.00"))[:-1] + ', "declared_money": "1.00"}'
    response = httpx.post(api.url + "/immigration?dry_run=true", content=body, headers={"content-type": "application/json"},
                          cookies=operators.session_cookies(api.url))
    assert response.status_code == 422
    assert response.json()["errors"] == [NOT_JSON]


def test_every_body_is_parsed_exactly(api: ApiServer) -> None:
    """Every operation with a JSON body uses the exact parser: a repeated key shows which parser ran."""
    spec = httpx.get(api.url + "/openapi.json").json()
    with_body = [
        (method, path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert with_body
    for method, path in with_body:
        url = api.url + path.replace("{", "").replace("}", "")  # no operation with a body has path parameters
        response = httpx.request(method, url, content=b'{"a": 1, "a": 1}', headers={"content-type": "application/json"},
                                 cookies=operators.session_cookies(api.url))
        assert response.json()["errors"] == [NOT_JSON], (method, path)


INTEGER_TEXTS = [
    ("5.0", NOT_DIGITS),  # not silently 5
    ("5.00000000000000001", NOT_DIGITS),
    ("1e1", NOT_DIGITS),
    ("5_0", NOT_DIGITS),  # Python's int() reads 50
    ("+5", NOT_DIGITS),
    (" 5", NOT_DIGITS),
    ("0x10", NOT_DIGITS),
    ("\uff15", NOT_DIGITS),  # a fullwidth 5
    ("NaN", NOT_DIGITS),
    ("0", "Input should be greater than or equal to 1"),
    ("-1", "Input should be greater than or equal to 1"),
]


@pytest.mark.parametrize("parameter", ["limit", "before_id"])
@pytest.mark.parametrize(("text", "message"), INTEGER_TEXTS)
def test_query_integers_are_digits(client: httpx.Client, parameter: str, text: str, message: str) -> None:
    response = client.get("/immigration", params={parameter: text})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": f"query.{parameter}", "message": message}]


@pytest.mark.parametrize(("text", "message"), [(t, m) for t, m in INTEGER_TEXTS if t.strip() == t])
def test_path_ids_are_digits(client: httpx.Client, text: str, message: str) -> None:
    response = client.get(f"/immigration/{text}")
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "path.entry_id", "message": message}]


def test_query_integers_beyond_their_range_are_refused_by_range(client: httpx.Client) -> None:
    response = client.get("/immigration", params={"before_id": "1" * 30})
    assert response.json()["errors"] == [
        {"field": "query.before_id", "message": "Input should be less than or equal to 2147483647"}
    ]


@pytest.mark.parametrize("text", ["5", "007", "100"])
def test_query_integers_in_digits_are_read(client: httpx.Client, text: str) -> None:
    response = client.get("/immigration", params={"limit": text})
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) <= int(text)
