"""Liveness and readiness, for Docker's healthcheck, the blackbox probes and orchestrators."""

from fastapi import APIRouter

from app.deps import Db
from app.errors import error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers. Never touches the database: a database blip must not restart the API."""
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503, 504))
async def readyz(db: Db) -> dict[str, str]:
    """The API can serve: the database answers a query."""
    await db.fetch("SELECT 1")
    return {"status": "ready"}
