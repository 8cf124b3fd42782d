"""Dependencies of the routes, as `Annotated` aliases.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread pool, and that
hop cost a third of the throughput of GET /dni (measured with py-spy; tests/benchmarks/README.md).

Who may call what (issue 12): every business route takes `CurrentOperator` (any signed-in operator:
401 without a valid session) or `Supervisor` (`RequireRole("supervisor")`: 403 for an officer).
`same_origin` guards every state-changing request of the app (installed app-wide by app.main).
"""

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie

from app import auth
from app.audit import Auditor
from app.config import Settings, get_settings
from app.db import Pool
from app.errors import ApiError

# The session cookie, declared as an OpenAPI security scheme (so the schema says which routes need it).
# auto_error=False: a missing cookie is our own 401 `not_signed_in`, in the `{detail, reason}` shape.
session_cookie = APIKeyCookie(
    name=auth.SESSION_COOKIE, scheme_name="SessionCookie", auto_error=False, description="Set by POST /auth/sign-in"
)

_SESSION_DETAILS = {
    "not_signed_in": "Sign in first.",
    "session_expired": "The session has ended (shift length or idle timeout); sign in again.",
}
_STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


async def get_db(request: Request) -> Pool:
    """The worker's connection pool, opened by the app's lifespan."""
    pool: Pool = request.app.state.db
    return pool


async def settings() -> Settings:
    """The process-wide settings."""
    return get_settings()


Db = Annotated[Pool, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(settings)]
SessionToken = Annotated[str | None, Depends(session_cookie)]


async def current_session(
    request: Request, db: Db, config: SettingsDep, token: SessionToken
) -> tuple[auth.Operator, datetime]:
    """The signed-in operator and the session's end; 401 `not_signed_in` or `session_expired` otherwise."""
    try:
        return await auth.session_operator(db, config, token)
    except auth.SessionRefused as refused:
        raise ApiError(401, _SESSION_DETAILS[refused.reason], refused.reason) from None


async def current_operator(session: Annotated[tuple[auth.Operator, datetime], Depends(current_session)]) -> auth.Operator:
    """The signed-in operator (any role)."""
    return session[0]


CurrentSession = Annotated[tuple[auth.Operator, datetime], Depends(current_session)]
CurrentOperator = Annotated[auth.Operator, Depends(current_operator)]


def RequireRole(role: str) -> Any:  # noqa: N802  # reads as a type in `Annotated[Operator, RequireRole(...)]`
    """A dependency: the signed-in operator, if their role includes `role`; else 403 `forbidden`."""
    if role not in auth.ROLES:
        raise ValueError(f"unknown role {role!r}")

    async def operator_with_role(operator: CurrentOperator) -> auth.Operator:
        if not operator.may_act_as(role):
            raise ApiError(403, f"This needs the {role} role.", "forbidden")
        return operator

    return Depends(operator_with_role)


Supervisor = Annotated[auth.Operator, RequireRole("supervisor")]


async def auditor(request: Request, db: Db, operator: CurrentOperator) -> Auditor:
    """The audit recorder of this request's operator (see app.audit.Auditor)."""
    return Auditor(db, request, operator.username)


Audit = Annotated[Auditor, Depends(auditor)]


def request_scheme(request: Request) -> str:
    """The scheme the browser used: the proxy's X-Forwarded-Proto (Apache sets it), else the request's own.

    Taken from the header whoever sent it: a browser cannot set it on another site's behalf (it is no
    CORS-safelisted header, and the API answers no preflight), and a client that sets it on its own
    request only changes what it is told (its own cookie's Secure flag, its own Origin's comparison).
    """
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded if forwarded in ("http", "https") else request.url.scheme


def own_origin(request: Request) -> str:
    """The origin the browser sent the request to: `request_scheme` and X-Forwarded-Host (Apache sets it
    to the Host the browser asked for, ProxyPreserveHost being off), else the Host header."""
    host = request.headers.get("x-forwarded-host", "").split(",")[0].strip() or request.headers.get("host", "")
    return f"{request_scheme(request)}://{host}".lower()


async def same_origin(request: Request, config: SettingsDep) -> None:
    """403 `cross_origin` for a state-changing request sent from another origin (login CSRF included).

    The browser's Origin header, or else the Referer's origin, must be the API's own origin or one
    of TRUSTED_ORIGINS (OWASP CSRF Prevention Cheat Sheet, "Verifying Origin With Standard Headers").
    A request with neither header is not a browser's cross-site request (browsers send Origin on
    every cross-origin POST, Fetch standard), so it passes: k6, Locust and curl send neither.
    """
    if request.method not in _STATE_CHANGING:
        return
    origin = request.headers.get("origin")
    if origin is None and (referer := request.headers.get("referer")) is not None:
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "null"
    if origin is None:
        return
    allowed = {own_origin(request), *(trusted.lower() for trusted in config.trusted_origin_list())}
    if origin.rstrip("/").lower() not in allowed:
        raise ApiError(403, "Refused: this request came from another site.", "cross_origin")
