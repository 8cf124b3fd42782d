"""Dependencies of the routes, as `Annotated` aliases.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread pool, and that
hop cost a third of the throughput of GET /dni (measured with py-spy; tests/benchmarks/README.md).
"""

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings, get_settings
from app.db import Pool


async def get_db(request: Request) -> Pool:
    """The worker's connection pool, opened by the app's lifespan."""
    pool: Pool = request.app.state.db
    return pool


async def settings() -> Settings:
    """The process-wide settings."""
    return get_settings()


Db = Annotated[Pool, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(settings)]
