"""The path prefix a reverse proxy serves the API under (the ROOT_PATH setting)."""

from starlette.types import ASGIApp, Receive, Scope, Send


class RootPath:
    """Set the ASGI `root_path` of every request to `root_path` (ASGI spec, HTTP connection scope).

    The proxy strips the prefix (Apache: /api/healthz -> /healthz), so paths arrive without it and
    route as they are; a path that does carry the prefix routes too (Starlette strips a leading
    `root_path`). What the prefix changes is the URLs the API gives out: FastAPI's /openapi.json
    lists it in `servers`, and the docs page (app.routes.docs) builds its URLs on it.
    This is what FastAPI's deprecated `FastAPI(root_path=...)` did, without the deprecation; the
    server's `--root-path` instead prepends the prefix to every path, which the proxy already stripped.
    Usage: `app.add_middleware(RootPath, root_path="/api")`.
    """

    def __init__(self, app: ASGIApp, root_path: str) -> None:
        self.app = app
        self.root_path = root_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["root_path"] = self.root_path
        await self.app(scope, receive, send)
