"""Signing in and out: the session cookie (issue 12).

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Path=/,
Secure whenever the request came over HTTPS or SESSION_COOKIE_SECURE is set. Its Max-Age is the
shift's length; the server ends the session sooner when it stays unused for the idle timeout.
"""

from fastapi import APIRouter, Request, Response

from app import audit, auth
from app.audit import Action, Outcome
from app.deps import CurrentSession, Db, SessionToken, SettingsDep, request_scheme
from app.errors import ApiError, error_responses
from app.json_body import ExactJSONRoute
from app.metrics import count_sign_in
from app.schemas.auth import SessionOut, SignInIn

router = APIRouter(prefix="/auth", tags=["auth"], route_class=ExactJSONRoute)


@router.post("/sign-in", responses=error_responses(400, 401, 403, 413, 422, 429, 503, 504))
async def sign_in(body: SignInIn, request: Request, response: Response, db: Db, settings: SettingsDep) -> SessionOut:
    """200 and the session cookie; 401 `bad_credentials` (unknown name, wrong password or disabled
    account alike), 429 `locked_out` after repeated failures from this name or address."""
    result = await auth.sign_in(db, settings, body.username, body.password, audit.client_address(request))
    count_sign_in(result.refusal or "success")
    await audit.record(
        db, request, operator=result.username, action=Action.SIGN_IN,
        outcome=Outcome.REFUSED if result.refusal else Outcome.OK, reason=result.refusal,
    )
    if result.refusal == "locked_out":
        raise ApiError(429, "Too many failed sign-ins: wait, then try again.", "locked_out",
                       headers={"Retry-After": str(result.retry_after_s)})
    if result.token is None or result.operator is None or result.expires_at is None:
        raise ApiError(401, "The user name or password is wrong.", "bad_credentials")
    response.set_cookie(
        auth.SESSION_COOKIE, result.token, max_age=settings.session_max_age_s, path="/", httponly=True,
        samesite="strict", secure=settings.session_cookie_secure or request_scheme(request) == "https",
    )
    return _session_out(result.operator, result.expires_at, settings)


@router.post("/sign-out", status_code=204, responses=error_responses(403, 503, 504))
async def sign_out(request: Request, db: Db, settings: SettingsDep, token: SessionToken) -> Response:
    """204 and the cookie cleared; the session, if any, ends on the server. Signing out twice is fine."""
    try:
        operator, _ = await auth.session_operator(db, settings, token)
    except auth.SessionRefused:
        operator = None
    await auth.end_session(db, token)
    if operator is not None:
        await audit.record(db, request, operator=operator.username, action=Action.SIGN_OUT, outcome=Outcome.OK)
    response = Response(status_code=204)
    response.delete_cookie(auth.SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=settings.session_cookie_secure or request_scheme(request) == "https")
    return response


@router.get("/me", responses=error_responses(401, 503, 504))
async def me(session: CurrentSession, settings: SettingsDep) -> SessionOut:
    """The signed-in operator and their session; 401 if none."""
    operator, expires_at = session
    return _session_out(operator, expires_at, settings)


def _session_out(operator: auth.Operator, expires_at: object, settings: SettingsDep) -> SessionOut:
    return SessionOut(username=operator.username, role=operator.role, expires_at=expires_at,  # type: ignore[arg-type]
                      idle_timeout_s=settings.session_idle_timeout_s)
