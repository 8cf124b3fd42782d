"""The immigration checkpoint API: `uvicorn app.main:app`."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from app.config import get_settings
from app.deps import same_origin
from app.db import DatabaseTimeout, DatabaseUnavailable, Pool
from app.errors import install_error_handlers
from app.limits import BodySizeLimit
from app.methods import HttpMethods
from app.metrics import instrument
from app.proxy import RootPath
from app.routes import audit, auth, docs, flights, health, immigration, interpol

log = logging.getLogger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Give the worker its connection pool, sized to the server if it answers, and close it at the end."""
    settings = get_settings()
    pool = Pool(
        settings.dsn_kwargs(),
        size=settings.db_pool_size,
        connect_timeout=settings.db_connect_timeout_s,
        acquire_timeout=settings.db_acquire_timeout_s,
        statement_timeout=settings.db_statement_timeout_ms / 1000,
    )
    try:
        await pool.fit_to_server(settings.web_concurrency, settings.db_reserved_connections)
    except (DatabaseUnavailable, DatabaseTimeout) as exc:
        # Start anyway: /healthz answers, /readyz says not ready, requests get 503 until it is back.
        log.warning("database not reachable at start-up (%s); pool left at %d", exc, pool.size)
    app.state.db = pool
    yield
    pool.close()


def create_app(*, instrumented: bool = True) -> FastAPI:
    """The application, with its routes, error handlers and (unless benchmarking their cost) metrics."""
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = FastAPI(
        title="Promethoide immigration checkpoint",
        version="1.0.0",
        description="Checks a traveller's document and flight and registers their entry.",
        lifespan=lifespan,
        # FastAPI's own pages load their scripts from CDNs: /docs is served by app.routes.docs
        # instead, and ReDoc is not offered.
        docs_url=None,
        redoc_url=None,
        # Every state-changing request, of every route present and future, from the page's own origin only.
        dependencies=[Depends(same_origin)],
    )
    for module in (health, auth, interpol, flights, immigration, audit, docs):
        app.include_router(module.router)
    install_error_handlers(app)
    # Innermost first: method semantics see the route list with the root path already set.
    app.add_middleware(HttpMethods, routes=app.routes)
    app.add_middleware(BodySizeLimit)
    if settings.root_path:
        app.add_middleware(RootPath, root_path=settings.root_path)
    if instrumented:
        instrument(app)
    return app


app = create_app()
