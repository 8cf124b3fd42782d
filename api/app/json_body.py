"""Request bodies parsed with their numbers exactly as written.

Starlette's `Request.json()` is `json.loads(body)`, which turns `499.999999999999999` into the float
500.0 before pydantic sees it: the money check then judges a number the client never sent. Here every
JSON number with a fraction or an exponent becomes a `Decimal` of its exact text (integers stay `int`,
which Python reads exactly), so each field's own validator refuses too many decimals or too large a
value, naming the field. Usage: `APIRouter(route_class=ExactJSONRoute)`.
"""

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

# Digits and exponents beyond this are refused while parsing: far outside every field's range, and
# small enough that no validator can be made to build a huge integer (int(Decimal("1e999999999"))
# would take minutes and gigabytes). 1e400 and 1e-400 still reach the field, which names the fault.
MAX_MAGNITUDE = 1000


class NumberOutOfRange(ValueError):
    """A JSON number with more than MAX_MAGNITUDE digits or a larger exponent."""


def _decimal(text: str) -> Decimal:
    """A JSON number with a fraction or an exponent, exactly (RFC 8259 section 6 grammar, already checked)."""
    value = Decimal(text)
    if abs(value.adjusted()) > MAX_MAGNITUDE or len(text) > MAX_MAGNITUDE:
        raise NumberOutOfRange(f"a number in the body has more than {MAX_MAGNITUDE} digits or a larger exponent")
    return value


def _integer(text: str) -> int:
    """A JSON integer (Python's own limit, 4300 digits, would raise a bare ValueError)."""
    if len(text) > MAX_MAGNITUDE:
        raise NumberOutOfRange(f"a number in the body has more than {MAX_MAGNITUDE} digits")
    return int(text)


def _not_a_number(name: str) -> Decimal:
    """NaN, Infinity, -Infinity: not JSON, but Python reads them; every field refuses them by name."""
    return Decimal(name)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object; a key given twice is refused rather than silently keeping the last value."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise json.JSONDecodeError("a key appears twice in one object", "", 0)
    return obj


def loads(body: bytes) -> Any:
    """Parse a JSON request body, numbers exact; raises json.JSONDecodeError (FastAPI: 422) if unreadable."""
    try:
        return json.loads(
            body,
            parse_float=_decimal,
            parse_int=_integer,
            parse_constant=_not_a_number,
            object_pairs_hook=_no_duplicate_keys,
        )
    except NumberOutOfRange as exc:
        raise json.JSONDecodeError(str(exc), "", 0) from exc


class ExactJSONRequest(Request):
    """A request whose `json()` keeps numbers exact (see `loads`)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class ExactJSONRoute(APIRoute):
    """A route that reads its JSON body with ExactJSONRequest.

    The pattern of FastAPI's "Custom Request and APIRoute class" documentation.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_json_handler(request: Request) -> Response:
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return exact_json_handler
