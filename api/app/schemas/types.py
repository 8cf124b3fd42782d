"""Field types shared by the entities: normalised on the way in, bounded, with errors a person can act on."""

import re
import unicodedata
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

_SEPARATORS = re.compile(r"[\s\-.]+")
_DOCUMENT = re.compile(r"[A-Z0-9]{5,20}")
_FLIGHT = re.compile(r"(?P<airline>[A-Z]{2}|[A-Z][0-9]|[0-9][A-Z])(?P<number>[0-9]{1,4})(?P<suffix>[A-Z]?)")
# Control, format (zero-width, bidi overrides), private-use and unpaired-surrogate characters.
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Zl", "Zp"}
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})")
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")  # ASCII digits; "-1" is left to the range check, which says why
CENT = Decimal("0.01")
MAX_MONEY = Decimal("9999999999.99")  # NUMERIC(12,2)


def _compact(value: str) -> str:
    """Uppercase a code and drop the spaces, hyphens and dots people type inside it."""
    if not value.isascii():  # before upper(): "ß".upper() is "SS"
        return ""
    return _SEPARATORS.sub("", value).upper()


def document_number(value: str) -> str:
    """A travel document number as stored: 5 to 20 letters or digits, uppercase."""
    compact = _compact(value)
    if not _DOCUMENT.fullmatch(compact):
        raise ValueError("a document number is 5 to 20 letters or digits")
    return compact


def flight_designator(value: str) -> str:
    """An IATA flight designator as stored: airline code, number without leading zeros, suffix."""
    match = _FLIGHT.fullmatch(_compact(value))
    if not match:
        raise ValueError("a flight number is an IATA airline code and 1 to 4 digits, such as AA123")
    # BA0456 and BA456 are the same flight: store one spelling.
    return f"{match['airline']}{int(match['number'])}{match['suffix']}"


def plain_text(value: str) -> str:
    """Free text without invisible or control characters (which keeps NUL bytes from PostgreSQL)."""
    if any(unicodedata.category(char) in _INVISIBLE for char in value):
        raise ValueError("must not contain control or invisible characters")
    return value


def person_name(value: str) -> str:
    """A name: plain text with at least one letter."""
    if not any(char.isalpha() for char in plain_text(value)):
        raise ValueError("a name needs at least one letter")
    return value


def lodging(value: str) -> str:
    """Where the traveller stays; text without a letter or digit counts as no lodging at all."""
    return value if any(char.isalnum() for char in plain_text(value)) else ""


def cents(value: Decimal) -> Decimal:
    """An amount with exactly two decimals, as NUMERIC(12,2) stores it; -0 is 0.00, not -0.00."""
    amount = value.quantize(CENT)
    return amount.copy_abs() if amount.is_zero() else amount


def rfc3339(value: object) -> object:
    """A time in a query string as RFC 3339 with its offset: `0.5` or `2026-11-29` are not read as times."""
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise ValueError("a time is written as RFC 3339 with an offset, such as 2026-11-29T08:00:00Z")
    return value


def whole_number(value: object) -> object:
    """An integer in a path or query string, as decimal digits: `5.0`, `1e2`, `5_0` or ` 5` are not
    silently read as 5, 100, 50 or 5."""
    if isinstance(value, str) and not _WHOLE_NUMBER.fullmatch(value):
        raise ValueError("must be a whole number written in digits, such as 42")
    return value


# Raw inputs are bounded before normalisation, so a 100 kB string is refused without being copied.
DocumentNumber = Annotated[
    str,
    Field(min_length=1, max_length=40, examples=["12345678A"], description="5 to 20 letters or digits"),
    AfterValidator(document_number),
]
FlightNumber = Annotated[
    str,
    Field(min_length=1, max_length=12, examples=["AA123"], description="IATA flight designator"),
    AfterValidator(flight_designator),
]
PersonName = Annotated[str, Field(min_length=1, max_length=120, examples=["Ada Lovelace"]), AfterValidator(person_name)]
Lodging = Annotated[str, Field(max_length=200, examples=["Hotel Alvear, Buenos Aires"]), AfterValidator(lodging)]
# Exact only if the JSON number reached pydantic as a Decimal of its text (app.json_body), never a float.
# NUMERIC(12,2)'s range as `le` rather than max_digits, which pydantic checks before decimal_places: so
# 499.999999999999999 is refused for its decimals, and the bound shows in the OpenAPI schema.
Money = Annotated[Decimal, Field(ge=0, le=MAX_MONEY, decimal_places=2, examples=["1500.00"]), AfterValidator(cents)]
# For ids, page sizes and cursors in paths and query strings: `Annotated[int, Query(ge=1), DIGITS_ONLY]`
# (after Path/Query: before them, the JSON schema would carry "ge"/"le" as raw keys).
DIGITS_ONLY = BeforeValidator(whole_number)
# For times in query strings: `Annotated[datetime | None, Query(), RFC3339_ONLY]`.
RFC3339_ONLY = BeforeValidator(rfc3339)
