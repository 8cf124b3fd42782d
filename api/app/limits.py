"""A bound on request bodies, enforced before the body is read."""

from starlette.types import ASGIApp, Receive, Scope, Send

from app.schemas.common import ErrorOut

MAX_BODY_BYTES = 16 * 1024  # an entry is a few hundred bytes; Apache's LimitRequestBody matches


class BodySizeLimit:
    """Answer 413 to a request whose declared Content-Length is over `max_bytes`.

    Without it a 60 MB body is read and parsed in full before validation refuses it. A chunked body
    has no declared length; Apache in front refuses those (411), so this does not count bytes.
    Usage: `app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)`.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._body = ErrorOut(
            detail=f"The request body is larger than {max_bytes} bytes.", reason="body_too_large"
        ).model_dump_json(exclude_none=True).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._too_large(scope):
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": self._body})
            return
        await self.app(scope, receive, send)

    def _too_large(self, scope: Scope) -> bool:
        """Whether the declared body length is over the limit (or not a number)."""
        for name, value in scope["headers"]:
            if name == b"content-length":
                return not value.isdigit() or int(value) > self.max_bytes
        return False
