"""Every error leaves the API as JSON `{detail, reason}`: no stack trace, no echo of the input."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.checkpoint import Refusal
from app.config import get_settings
from app.db import DatabaseTimeout, DatabaseUnavailable
from app.methods import allowed_methods
from app.schemas.common import ErrorOut

log = logging.getLogger(__name__)


class NotFound(Exception):
    """A looked-up thing does not exist; `reason` is its stable code."""

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason


class ApiError(Exception):
    """A refusal with its own status, stable reason code and headers (sign-in, sessions, roles, origins)."""

    def __init__(self, status: int, detail: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.headers = headers


class EntryRefused(Exception):
    """The checkpoint refused an entry."""

    def __init__(self, refusal: Refusal, **facts: object) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal
        self.facts = facts


_DESCRIPTIONS = {
    400: "The body could not be read",
    401: "Not signed in (`not_signed_in`), the session ended (`session_expired`), or (sign-in) `bad_credentials`",
    403: "Refused: the role lacks the right (`forbidden`), a request from another origin (`cross_origin`), "
    "or (registration) the document is on the Interpol list",
    404: "Not found",
    409: "Conflict: already registered",
    413: "The request body is too large",
    422: "Invalid input, or an entry refused (unknown flight, no lodging, too little money)",
    429: "Too many failed sign-ins (`locked_out`): retry after `Retry-After` seconds",
    503: "The database is unavailable; retry after `Retry-After` seconds",
    504: "The database took too long to answer",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the error statuses a route can return."""
    return {status: {"model": ErrorOut, "description": _DESCRIPTIONS[status]} for status in statuses}


def _error(status: int, detail: str, reason: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = ErrorOut(detail=detail, reason=reason, **extra).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


def _field_name(location: tuple[int | str, ...]) -> str:
    """`body.dni` rather than `('body', 'dni')`; the body itself is just `body`."""
    return ".".join(str(part) for part in location) or "request"


def _describe(error: dict[str, Any]) -> dict[str, str]:
    """The field and message of one validation error, in words a person can act on."""
    if error.get("type") == "json_invalid":
        return {"field": "body", "message": "the body is not valid JSON"}
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return {"field": _field_name(tuple(error.get("loc", ()))), "message": message}


async def _invalid_input(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only where and what, never the offending value: it may be personal data or 100 kB long.
    errors = [_describe(error) for error in exc.errors()]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return _error(422, f"Invalid input: {summary}", "invalid_input", errors=errors)


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EntryRefused)
    refusal = exc.refusal
    return _error(refusal.status, refusal.message.format(**exc.facts), refusal.reason)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _error(exc.status, exc.detail, exc.reason, headers=exc.headers)


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFound)
    return _error(404, exc.detail, exc.reason)


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    retry_after = str(get_settings().retry_after_s)
    return _error(
        503, "The database is unavailable; try again shortly.", "db_unavailable", headers={"Retry-After": retry_after}
    )


async def _database_timeout(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database timeout: %s", exc)
    return _error(504, "The database took too long to answer; try again.", "db_timeout")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return _method_not_allowed(request)
    reason = {400: "invalid_input", 404: "not_found"}.get(exc.status_code, "http_error")
    return _error(exc.status_code, str(exc.detail), reason, headers=exc.headers)


def _method_not_allowed(request: Request) -> JSONResponse:
    """405 with every method of the path in `Allow` (RFC 9110 §15.5.6), not only the first route's."""
    allowed = ", ".join(allowed_methods(request.app.routes, request.scope))
    return _error(
        405, f"This method is not allowed here; use {allowed}.", "method_not_allowed", headers={"Allow": allowed}
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error: %s", type(exc).__name__)
    return _error(500, "Internal error; it has been logged.", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception the API can raise to its JSON error."""
    app.add_exception_handler(RequestValidationError, _invalid_input)
    app.add_exception_handler(EntryRefused, _refused)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(DatabaseTimeout, _database_timeout)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
