"""HTTP method semantics (RFC 9110 §9) for every route of the app, present and future.

FastAPI's routes answer only the methods they declare: HEAD on a GET route is a 405, OPTIONS is a
405, and Starlette's 405 names only the methods of the first route whose path matched (on
`/immigration`, where GET and POST are two routes, `PUT` was told `Allow: POST`). Here, for any
path some route matches:

* HEAD wherever GET is allowed: the GET answer, status and headers (Content-Length included),
  without its content (§9.3.2) — `HttpMethods`;
* OPTIONS: 200, no content, `Allow` listing every method of the path (§9.3.7; 200 rather than 204
  because §9.3.7 asks for `Content-Length: 0`, which a 204 must not carry, §8.6) — `HttpMethods`;
* any other method the path does not support: the router's 405, whose `Allow` the error handler
  (app.errors) rewrites with `allowed_methods` (§15.5.6), as the JSON error `{detail, reason}`.

Other requests pass untouched: the middleware matches routes only for HEAD and OPTIONS (one pass
over the routes took 20-30 µs here, timeit on GET /dni: ~15% of that request's whole time at the
benchmark's 4,800 req/s, had every GET paid it). HEAD is not added to the routes themselves, so the
OpenAPI schema keeps one operation per route.
Usage: `app.add_middleware(HttpMethods, routes=app.routes)` (the app's live route list, so routes
added later are covered).
"""

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The methods a route can declare, in the order `Allow` lists them (RFC 9110's order of definition).
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")


def routed(routes: Sequence[BaseRoute], scope: Scope) -> bool:
    """Whether some route takes this request: its path and its method (Starlette's `Match.FULL`)."""
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route takes on the scope's path (empty: no route has this path).

    Asked of the routes themselves (`BaseRoute.matches`, public in Starlette and FastAPI, included
    routers too), one method at a time. HEAD is allowed wherever GET is, OPTIONS wherever anything is.
    """
    allowed = {method for method in METHODS if routed(routes, {**scope, "method": method})}
    if allowed:
        allowed |= {"OPTIONS"} | ({"HEAD"} if "GET" in allowed else set())
    return [method for method in METHODS if method in allowed]


class HttpMethods:
    """HEAD and OPTIONS for every route (see the module docstring)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if method == "HEAD" and routed(self.routes, {**scope, "method": "GET"}):
            await self.app({**scope, "method": "GET"}, receive, _without_content(send))
        elif method == "OPTIONS" and (allowed := allowed_methods(self.routes, scope)):
            await self._options(allowed, send)
        else:
            await self.app(scope, receive, send)  # a 404 or 405 is the router's, Allow the handler's

    @staticmethod
    async def _options(allowed: list[str], send: Send) -> None:
        headers = [(b"allow", ", ".join(allowed).encode()), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _without_content(send: Send) -> Send:
    """A `send` that passes the status and headers on and drops the content (for HEAD)."""

    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_headers_only
